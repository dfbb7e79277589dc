"""One GET endpoint on its own port, for the operator's /healthz and /metrics."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve_get(url: str, handler: Handler, default_path: str, default_port: int) -> web.AppRunner:
    """Serve `handler` at `url` (e.g. http://0.0.0.0:8080/healthz); the caller cleans the runner up."""
    parts = urllib.parse.urlsplit(url)
    app = web.Application()
    app.router.add_get(parts.path or default_path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, parts.hostname or "0.0.0.0", parts.port or default_port).start()
    return runner

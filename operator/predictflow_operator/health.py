"""The operator's /healthz, served by leader and standby alike (a standby is healthy while it waits)."""

from __future__ import annotations

import urllib.parse

from aiohttp import web


async def serve(url: str, state: dict[str, str]) -> web.AppRunner:
    """Serve `url` (e.g. http://0.0.0.0:8080/healthz) answering 200 with the replica's role."""
    parts = urllib.parse.urlsplit(url)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text=state.get("role", "starting") + "\n")

    app = web.Application()
    app.router.add_get(parts.path or "/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, parts.hostname or "0.0.0.0", parts.port or 8080).start()
    return runner

"""The operator's /healthz, served by leader and standby alike (a standby is healthy while it waits)."""

from __future__ import annotations

from aiohttp import web

from .http_endpoint import serve_get


async def serve(url: str, state: dict[str, str]) -> web.AppRunner:
    """Serve `url` (e.g. http://0.0.0.0:8080/healthz) answering 200 with the replica's role."""

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text=state.get("role", "starting") + "\n")

    return await serve_get(url, healthz, "/healthz", 8080)

"""The one aiohttp server: health check and the routes channels contribute (Slack events)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.app import App


def build_web_app(app: App) -> web.Application:
    web_app = web.Application(client_max_size=2 * 1024 * 1024)

    async def healthz(_: web.Request) -> web.Response:
        problems = await app.problems()
        if problems:
            return web.json_response({"status": "unhealthy", "problems": problems}, status=503)
        return web.json_response({"status": "ok", "channels": sorted(app.channels)})

    web_app.router.add_get("/healthz", healthz)
    for channel in app.channels.values():
        routes = getattr(channel, "routes", None)
        if callable(routes):
            web_app.router.add_routes(routes())
    return web_app

"""The one aiohttp server: health, metrics, statistics, status, and the channels' routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.health import healthz_handler
from bot.stats_page import stats_routes
from bot.status_page import status_routes
from bot.ticket_page import ticket_page_routes
from core import metrics

if TYPE_CHECKING:
    from bot.app import App


def build_web_app(app: App) -> web.Application:
    web_app = web.Application(client_max_size=2 * 1024 * 1024)

    async def metrics_page(_: web.Request) -> web.Response:
        body = await metrics.scrape(app.db, app.ctx.now())
        return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})

    web_app.router.add_get("/healthz", healthz_handler(app))
    web_app.router.add_get("/metrics", metrics_page)
    web_app.router.add_routes(stats_routes(app))
    web_app.router.add_routes(status_routes(app))
    web_app.router.add_routes(ticket_page_routes(app))
    for channel in app.channels.values():
        routes = getattr(channel, "routes", None)
        if callable(routes):
            web_app.router.add_routes(routes())
    return web_app

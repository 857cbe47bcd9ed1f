"""GET /stats: the statistics page, for agents only (a signed link or the admin bearer token)."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from core.stats.figures import BACKLOG_BUCKETS, human_duration, summary_lines
from core.stats.link import LinkError, check_link
from core.stats.report import stats_page_data
from core.stats.window import StatsError

if TYPE_CHECKING:
    from bot.app import App

STATIC = Path(__file__).parent / "static"
ASSETS = "/stats-assets"
# Scripts and styles from this server only: no inline code, no CDN, nothing framed or posted.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PRIVATE = {
    "Content-Security-Policy": POLICY,
    "Cache-Control": "no-store",
    # The signed link is in the URL: never hand it on to another site.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_pages = Environment(loader=PackageLoader("bot", "templates"), autoescape=select_autoescape(["j2"]))


def _refused(reason: str) -> web.Response:
    return web.Response(
        status=401,
        text=f"Statistics are for agents: {reason}\n",
        headers={**PRIVATE, "WWW-Authenticate": 'Bearer realm="tidings stats"'},
    )


def _authorised(app: App, request: web.Request) -> tuple[str | None, str]:
    """(why it is refused or None, the period the page shows)."""
    token = app.settings.web.admin_token
    header = request.headers.get("Authorization", "")
    if header:
        given = header.removeprefix("Bearer ").strip()
        if (
            token
            and header.startswith("Bearer ")
            and hmac.compare_digest(given.encode(), token.encode())
        ):
            return None, request.query.get("since", "")
        return "that token is not the admin token", ""
    if "sig" not in request.query:
        return "open the link the stats command gives you, or send the admin token", ""
    since = request.query.get("since", "")
    try:
        check_link(
            app.settings, request.query.get("expires", ""), request.query["sig"], since,
            app.ctx.now(),
        )  # fmt: skip
    except LinkError as exc:
        return str(exc), ""
    return None, since


def stats_routes(app: App) -> list[web.AbstractRouteDef]:
    async def stats(request: web.Request) -> web.Response:
        refused, since = _authorised(app, request)
        if refused is not None:
            return _refused(refused)
        try:
            data = await stats_page_data(app.db, app.ctx.now(), since or None)
        except StatsError as exc:
            return web.Response(status=400, text=f"{exc}\n", headers=PRIVATE)
        html = _pages.get_template("stats.html.j2").render(page_context(data))
        return web.Response(text=html, content_type="text/html", headers=PRIVATE)

    return [web.get("/stats", stats), web.static(ASSETS, STATIC)]


def page_context(data: dict[str, Any]) -> dict[str, Any]:
    figures = data["figures"]
    return {
        "assets": ASSETS,
        "figures": figures,
        "summary": summary_lines(figures),
        "backlog": [
            (name.replace("_", " "), figures["backlog_by_age"][name]) for name, _ in BACKLOG_BUCKETS
        ],
        "chart_data": data["series"],
        "first_median": _spoken(figures["first_response_seconds"]["median"]),
        "resolution_median": _spoken(figures["resolution_seconds"]["median"]),
    }


def _spoken(seconds: float | None) -> str:
    return "" if seconds is None else human_duration(seconds)

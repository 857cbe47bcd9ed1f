"""GET /status and /status.json: the public incident page, cached, with ETag and Last-Modified.

During an outage this is the most-hit page. A short in-process cache means a burst of hits
costs one database read; the rendered bodies, their ETags and headers are made once per
change, so a hit is a dictionary lookup and a conditional-request check."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from core.incidents.store import revision
from core.incidents.views import public_incidents

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
# How long a rendered page is served before the database is read again (changes made in this
# process show at once; another process's changes within this many seconds).
FRESH_SECONDS = 2.0
# What browsers and proxies may reuse without asking: short, the page is about an outage.
CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=20"
_STYLE = (TEMPLATES / "status.css").read_text(encoding="utf-8")
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
# Nothing but the one inline style, whose hash is known: no scripts, no images, no forms.
POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_pages = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)


@dataclass(frozen=True)
class _Rendered:
    """One representation of the page: its bytes and the headers that go with them."""

    body: bytes
    etag: str
    last_modified: datetime
    headers: dict[str, str]


def _rendered(body: bytes, content_type: str, last_modified: datetime) -> _Rendered:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {
        "Content-Type": content_type,
        "ETag": etag,
        "Last-Modified": format_datetime(last_modified, usegmt=True),
        "Cache-Control": CACHE_CONTROL,
        "Content-Security-Policy": POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return _Rendered(body, etag, last_modified, headers)


def _not_modified(request: web.Request, page: _Rendered) -> bool:
    """RFC 9110: If-None-Match decides when present; otherwise If-Modified-Since."""
    tags = request.headers.get("If-None-Match")
    if tags is not None:
        wanted = {tag.strip().removeprefix("W/") for tag in tags.split(",")}
        return "*" in wanted or page.etag in wanted
    since = request.headers.get("If-Modified-Since")
    if not since:
        return False
    try:
        moment = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return page.last_modified <= moment


class StatusPage:
    """The page's cache: rebuilt when older than FRESH_SECONDS or when incidents changed here."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._lock = asyncio.Lock()
        self._built_at = -FRESH_SECONDS
        self._revision = -1
        self._pages: dict[str, _Rendered] = {}

    async def page(self, kind: str) -> _Rendered:
        if self._stale():
            async with self._lock:  # one reader rebuilds; the rest of the burst waits for it
                if self._stale():
                    await self._rebuild_or_keep()
        return self._pages[kind]

    async def _rebuild_or_keep(self) -> None:
        """The outage may be the database's own: then the last page served stays up, and the
        database is asked again when the cache's lifetime ends, not on every hit."""
        try:
            await self._rebuild()
        except Exception:
            if not self._pages:
                raise
            log.warning("status page: cannot read incidents; serving the last page", exc_info=True)
            self._revision, self._built_at = revision(), time.monotonic()

    def _stale(self) -> bool:
        return time.monotonic() - self._built_at >= FRESH_SECONDS or self._revision != revision()

    async def _rebuild(self) -> None:
        seen, now = revision(), self.app.ctx.now()
        async with self.app.db.sessions() as session:
            data = await public_incidents(session, now)
        changed: datetime = data.pop("changed_at") or now
        json_body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        html_body = self._html(data, now).encode()
        pages: dict[str, _Rendered] = {}
        for kind, body, content_type in (
            ("json", json_body, "application/json; charset=utf-8"),
            ("html", html_body, "text/html; charset=utf-8"),
        ):
            old = self._pages.get(kind)
            if old is not None and old.body == body:
                pages[kind] = old  # same bytes: same ETag, and the time they last changed
                continue
            # A change seen after the first build happened by now at the latest (an incident
            # leaving the 14 days changes the page without changing any incident), so the time
            # never goes backwards and If-Modified-Since never hides a change.
            moment = changed if old is None else max(changed, now, old.last_modified)
            pages[kind] = _rendered(
                body, content_type, moment.astimezone(UTC).replace(microsecond=0)
            )
        self._pages, self._revision, self._built_at = pages, seen, time.monotonic()

    def _html(self, data: dict[str, Any], now: datetime) -> str:
        texts = self.app.ctx.texts

        def when(value: str | None) -> str:
            return texts.when(datetime.fromisoformat(value) if value else None, now, zone=False)

        return _pages.get_template("status.html.j2").render(
            incidents=data["incidents"], recent=data["recent"], when=when,
            style=Markup(_STYLE), zone=texts.tz.key,
        )  # fmt: skip


def status_routes(app: App) -> list[web.AbstractRouteDef]:
    cache = StatusPage(app)

    def handler(kind: str) -> Any:
        async def serve(request: web.Request) -> web.Response:
            page = await cache.page(kind)
            if _not_modified(request, page):
                headers = {key: value for key, value in page.headers.items()
                           if key != "Content-Type"}  # fmt: skip
                return web.Response(status=304, headers=headers)
            return web.Response(body=page.body, headers=page.headers)

        return serve

    return [web.get("/status", handler("html")), web.get("/status.json", handler("json"))]

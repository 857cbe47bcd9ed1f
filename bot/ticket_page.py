"""GET /t/{token}, its JSON, and POST /t/{token}: the customer's own page for their ticket.

The token is the only thing that names the ticket (core/pages/tokens.py); a wrong one is a
plain 404 that says nothing more. A message posted here goes into the inbox like any inbound
message (core/pages/form.py) and the page shows it once the inbox has processed it."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from core import metrics
from core.channel import CommandReply, Contact, ReplyTarget
from core.csat.page import (
    RATING_ANCHOR,
    PageRatingError,
    rate_on_page,
    rating_offer,
    read_page_rating,
)
from core.csat.rating import COMMENT_MAX
from core.pages.form import CHANNEL as PAGE_CHANNEL
from core.pages.form import PagePost
from core.pages.tokens import PageLinks, page_key, ticket_for_token
from core.pages.view import ticket_page_data
from core.storage.models import Contact as ContactRow
from core.storage.models import Ticket

if TYPE_CHECKING:
    from bot.app import App

STATIC = Path(__file__).parent / "static"
ASSETS = "/t-assets"
# The page's own script and style only; it posts only to itself and fetches only its JSON.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "Cache-Control": "no-store",  # the page is private: no shared cache keeps it
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never hand it on
    "X-Content-Type-Options": "nosniff",
}
MAX_TEXT = 5000  # characters of one message
MAX_BODY = 32 * 1024  # bytes of one form post (the message, URL-encoded, and two fields)
MAX_RATING_BODY = 4 * 1024  # bytes of a rating post: a number and a short comment
POSTS_PER_MINUTE = 5  # per page: a person writes a few; a script is stopped
POLL_SECONDS = 15  # how often the open page asks whether the ticket changed
_pages = Environment(loader=PackageLoader("bot", "templates"), autoescape=select_autoescape(["j2"]))
_NOT_FOUND = "404: Not Found"


def _answer(status: int, text: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers={**HEADERS, **headers})


class _RateLimit:
    """Posts per page token in the last minute (in this process)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = {}

    def wait(self, key: str) -> int:
        """0 when a post may go ahead (and counts it), else seconds until one may."""
        now = time.monotonic()
        recent = self.seen.setdefault(key, deque())
        while recent and now - recent[0] >= 60:
            recent.popleft()
        if len(recent) >= self.per_minute:
            return int(60 - (now - recent[0])) + 1
        recent.append(now)
        if len(self.seen) > 10_000:  # forget quiet pages rather than grow without end
            self.seen = {k: v for k, v in self.seen.items() if v and now - v[-1] < 60}
        return 0


class TicketPage:
    """The handlers, sharing the app, the links and the rate limit."""

    def __init__(self, app: App) -> None:
        self.app = app
        key = page_key(app.settings)
        # Without a configured key no links are handed out; the form still needs one to sign
        # with, so an unconfigured desk signs with a key that lives as long as the process.
        self.links = PageLinks(app.settings.web.public_url, key or secrets.token_bytes(32))
        self.limit = _RateLimit(POSTS_PER_MINUTE)

    async def _ticket(self, request: web.Request) -> int | None:
        async with self.app.db.sessions() as session:
            return await ticket_for_token(session, request.match_info["token"])

    async def _data(self, request: web.Request) -> dict[str, Any] | None:
        """The page's data for the token in the URL (one session: a hit reads three rows
        sets, the token's, the ticket's with its incident, and the public events)."""
        ctx = self.app.ctx
        async with self.app.db.sessions() as session:
            ticket_id = await ticket_for_token(session, request.match_info["token"])
            if ticket_id is None:
                return None
            data = await ticket_page_data(session, ctx.texts, ticket_id, ctx.now())
            if data is not None:
                data["rating"] = await rating_offer(ctx, session, ticket_id)
            return data

    async def page(self, request: web.Request) -> web.Response:
        data = await self._data(request)
        if data is None:
            return web.Response(status=404, text=_NOT_FOUND)
        token = request.match_info["token"]
        nonce, rating_nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        html = _pages.get_template("ticket.html.j2").render(
            t=data, token=token, nonce=nonce, csrf=self.links.csrf(token, nonce),
            rating_nonce=rating_nonce, rating_csrf=self.links.csrf(token, rating_nonce),
            anchor=RATING_ANCHOR, comment_max=COMMENT_MAX, max_text=MAX_TEXT, poll=POLL_SECONDS,
            sent=request.query.get("sent", ""), etag=_etag(data), assets=ASSETS,
        )  # fmt: skip
        return web.Response(text=html, content_type="text/html", headers=HEADERS)

    async def data(self, request: web.Request) -> web.Response:
        data = await self._data(request)
        if data is None:
            return web.Response(status=404, text=_NOT_FOUND)
        etag = _etag(data)
        headers = {**HEADERS, "ETag": etag, "Cache-Control": "no-cache"}
        if etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        body = json.dumps(data, ensure_ascii=False).encode()
        return web.Response(body=body, content_type="application/json", headers=headers)

    async def post(self, request: web.Request) -> web.Response:
        ticket_id = await self._ticket(request)
        if ticket_id is None:
            return web.Response(status=404, text=_NOT_FOUND)
        token = request.match_info["token"]
        fields, refused = await self._checked_form(
            request, MAX_BODY, f"Your message is too long: at most {MAX_TEXT} characters."
        )
        if refused is not None:
            return refused
        nonce = _field(fields, "nonce")
        text = _field(fields, "message").strip()
        if not text:
            return _answer(400, "Your message is empty: write something before sending.")
        if len(text) > MAX_TEXT:
            return _answer(413, f"Your message is too long: at most {MAX_TEXT} characters.")
        post = await self._post(ticket_id, nonce, text)
        await self.app.desk.receive(post.raw())  # a second send of the same form is one message
        raise web.HTTPSeeOther(f"/t/{token}?sent=1", headers=HEADERS)

    async def _checked_form(
        self, request: web.Request, most: int, too_long: str
    ) -> tuple[dict[str, list[str]], web.Response | None]:
        """The posted fields, or the answer that refuses them: too big, too many posts from
        this page, or a form that is not this page's (CSRF)."""
        token = request.match_info["token"]
        too_big = request.content_length is not None and request.content_length > most
        body = b"" if too_big else await request.content.read(most + 1)
        if too_big or len(body) > most:
            metrics.turned_away(PAGE_CHANNEL, "refused_too_large")
            return {}, _answer(413, too_long)
        wait = self.limit.wait(hashlib.sha256(token.encode()).hexdigest())
        if wait:
            metrics.turned_away(PAGE_CHANNEL, "refused_rate_limited")
            return {}, _answer(
                429, f"Too many messages from this page: try again in {wait} seconds.",
                **{"Retry-After": str(wait)},
            )  # fmt: skip
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=5)
        nonce, csrf = _field(fields, "nonce"), _field(fields, "csrf")
        if not nonce or not hmac.compare_digest(csrf, self.links.csrf(token, nonce)):
            metrics.turned_away(PAGE_CHANNEL, "refused_csrf")
            return {}, _answer(
                403, "This form is not from your ticket's page, or it expired: "
                "open the page again and send it from there.",
            )  # fmt: skip
        return fields, None

    async def rate(self, request: web.Request) -> web.Response:
        """The rating form: recorded through core.csat like a button press; refused with the
        reason (and nothing changed) when it cannot be taken."""
        ticket_id = await self._ticket(request)
        if ticket_id is None:
            return web.Response(status=404, text=_NOT_FOUND)
        fields, refused = await self._checked_form(
            request, MAX_RATING_BODY, f"Your comment is too long: at most {COMMENT_MAX} characters."
        )
        if refused is not None:
            return refused
        ctx = self.app.ctx
        try:
            rating = read_page_rating(
                _field(fields, "rating"), _field(fields, "comment"), ctx.settings.csat.scale
            )
        except PageRatingError as exc:
            return _answer(400, f"Your rating was not recorded: {exc}.")

        async def work(session: AsyncSession) -> CommandReply:
            return await rate_on_page(ctx, session, ticket_id, rating)

        reply = await self.app.db.write(work)
        if not reply.ok:
            return _answer(409, f"Your rating was not recorded: {reply.text}.")
        token = request.match_info["token"]
        raise web.HTTPSeeOther(f"/t/{token}?rated=1#{RATING_ANCHOR}", headers=HEADERS)

    async def _post(self, ticket_id: int, nonce: str, text: str) -> PagePost:
        async with self.app.db.sessions() as session:
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None  # tickets are never deleted
            contact = await session.get(ContactRow, ticket.requester_id)
        requester = (
            Contact(contact.channel, contact.address, contact.name)
            if contact is not None
            else Contact(ticket.reply_channel, ticket.reply_address)
        )
        target = ReplyTarget(ticket.reply_channel, ticket.reply_address, ticket.reply_thread)
        return PagePost(nonce, ticket_id, text.replace("\r\n", "\n"), requester, target)


def _field(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name) or [""]
    return values[0]


def _etag(data: dict[str, Any]) -> str:
    encoded = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    return '"' + hashlib.sha256(encoded).hexdigest()[:32] + '"'


def _asset(name: str, content_type: str) -> Any:
    body = (STATIC / name).read_bytes()

    async def serve(_: web.Request) -> web.Response:
        return web.Response(
            body=body, content_type=content_type,
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )  # fmt: skip

    return serve


def ticket_page_routes(app: App) -> list[web.AbstractRouteDef]:
    page = TicketPage(app)
    token = "{token:[A-Za-z0-9_-]+}"
    return [
        web.get(f"/t/{token}.json", page.data),
        web.get(f"/t/{token}", page.page),
        web.post(f"/t/{token}", page.post),
        web.post(f"/t/{token}/rate", page.rate),
        web.get(f"{ASSETS}/ticket.js", _asset("ticket.js", "text/javascript")),
        web.get(f"{ASSETS}/ticket.css", _asset("ticket.css", "text/css")),
    ]

"""A fake Discord (REST + gateway on loopback) that the real discord.Client logs into."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fake_discord_gateway import GatewayMixin
from tests.fake_discord_interactions import InteractionsMixin
from tests.fake_discord_payloads import (
    FakeGuild,
    FakeUser,
    message_payload,
    snowflake,
    thread_payload,
)
from tests.fake_discord_rest import RestMixin, error, from_multipart, json_response

API = "/api/v10"
INTERACTION_DEADLINE = 3.0  # seconds Discord gives a bot to answer an interaction


WAIT = 10.0  # seconds a stalled request waits at most, so that no test can hang on it


@dataclass
class Recorded:
    """One REST request the bot made."""

    method: str
    path: str
    json: Any
    status: int = 0


@dataclass
class PlannedFailure:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    skip: int = 0  # matching requests handled as usual before this one fails
    # Set when the request arrived, which is then never answered (as if Discord hung) until
    # the fake closes: for a sender that dies with a request in flight.
    stalled: asyncio.Event | None = None


@dataclass
class InteractionRecord:
    """An interaction we dispatched and everything the bot answered to it."""

    payload: dict[str, Any]
    sent_at: float
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def token(self) -> str:
        return str(self.payload["token"])

    def texts(self) -> list[str]:
        """What the user saw: a direct message response, an edited original, or follow-ups."""
        out = [c["data"].get("content", "") for c in self.callbacks if c["type"] in (4, 7)]
        return out + [f.get("content", "") for f in self.followups]

    def modal(self) -> dict[str, Any] | None:
        for callback in self.callbacks:
            if callback["type"] == 9:
                return dict(callback["data"])
        return None

    def choices(self) -> list[dict[str, Any]]:
        for callback in self.callbacks:
            if callback["type"] == 8:
                return list(callback["data"]["choices"])
        return []

    def is_final(self) -> bool:
        if self.texts() or self.modal() is not None or self.rejected:
            return True
        return any(c["type"] == 8 for c in self.callbacks)


class FakeDiscord(RestMixin, GatewayMixin, InteractionsMixin):
    """REST routes and a gateway that behave like Discord where the bot can tell."""

    def __init__(self, *, channels: tuple[str, ...] = ("help", "triage", "random")) -> None:
        super().__init__()
        self.application_id = snowflake()
        self.bot = FakeUser(self.application_id, "tidings", bot=True)
        self.guild = FakeGuild(snowflake())
        for name in channels:
            self.guild.channels[name] = snowflake()
        self.guild.roles["support"] = snowflake()
        self.members: list[FakeUser] = [self.bot]
        self.channels: dict[str, dict[str, Any]] = {
            cid: self.guild.channel_payload(name, cid) for name, cid in self.guild.channels.items()
        }
        self.messages: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.unhandled: list[str] = []
        self.invalid: list[str] = []  # why requests were refused as Invalid Form Body
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> commands
        self.dm_closed: set[str] = set()
        self.interactions: dict[str, InteractionRecord] = {}
        self.interaction_deadline = INTERACTION_DEADLINE
        self.files: dict[str, bytes] = {}  # attachment id -> bytes, for people's and the bot's
        self._failures: list[PlannedFailure] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/gateway", self._gateway_ws)
        app.router.add_get("/attachments/{cid}/{aid}/{name}", self._file)
        app.router.add_route("*", API + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        await self.close_sockets(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def user(self, name: str, *, roles: tuple[str, ...] = ()) -> FakeUser:
        person = FakeUser(snowflake(), name, roles=roles)
        self.members.append(person)
        return person

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        skip: int = 0,
    ) -> None:
        """Answer the next matching request (after `skip` more) with this error instead of
        handling it."""
        self._failures.append(
            PlannedFailure(method, re.compile(path_regex), status, body, headers or {}, skip)
        )

    def stall_next(self, method: str, path_regex: str, *, skip: int = 0) -> asyncio.Event:
        """Never answer the next matching request (after `skip` more) and handle nothing of
        it; the event returned is set when it arrives."""
        arrived = asyncio.Event()
        failure = PlannedFailure(method, re.compile(path_regex), 503, {}, {}, skip, arrived)
        self._failures.append(failure)
        return arrived

    def rate_limit_next(self, method: str, path_regex: str, retry_after: float) -> None:
        # Discord's own 429s come through Cloudflare with a Via header; without it discord.py
        # assumes a Cloudflare ban and gives up.
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": False,
        }
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(retry_after),
            "X-RateLimit-Scope": "user",
        }
        self.fail_next(method, path_regex, 429, body, headers)

    # -- what the bot did --------------------------------------------------------------------
    def sent(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages the bot posted in a channel, DM or thread, oldest first."""
        return [
            m
            for m in self.messages.values()
            if m["channel_id"] == channel_id and m["author"]["id"] == self.bot.id
        ]

    def posts(self, method: str = "POST", contains: str = "/messages") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and contains in r.path]

    # -- REST --------------------------------------------------------------------------------
    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path == "/gateway":
            return await handler(request)
        body = await request.read()
        try:
            if request.content_type == "multipart/form-data":
                parsed = from_multipart(request.headers["Content-Type"], body)
            else:
                parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode(errors="replace")
        entry = Recorded(request.method, request.path.removeprefix(API), parsed)
        self.requests.append(entry)
        for failure in self._failures:
            if failure.method == request.method and failure.pattern.search(entry.path):
                if failure.skip:
                    failure.skip -= 1
                    continue
                self._failures.remove(failure)
                if failure.stalled is not None:
                    failure.stalled.set()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), WAIT)
                entry.status = failure.status
                return json_response(failure.body, failure.status, failure.headers)
        response = await handler(request)
        entry.status = response.status
        return response

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix(API)
        body = self.requests[-1].json
        for method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if match and method == request.method:
                return await handler(body, **match.groupdict())
        self.unhandled.append(f"{request.method} {path}")
        return error(404, 0, "404: Not Found")

    # -- files -------------------------------------------------------------------------------
    def attachment(self, filename: str, data: bytes, content_type: str) -> dict[str, Any]:
        """An attachment object for a message, its file served here (as Discord's CDN would)."""
        attachment_id = snowflake()
        self.files[attachment_id] = data
        url = f"http://127.0.0.1:{self.port}/attachments/1/{attachment_id}/{filename}"
        return {"id": attachment_id, "filename": filename, "content_type": content_type,
                "size": len(data), "url": url, "proxy_url": url}  # fmt: skip

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["aid"])
        if data is None:  # an expired or unknown link
            return web.Response(status=404, text="This content is no longer available.")
        return web.Response(body=data, content_type="application/octet-stream")

    # -- what users do -----------------------------------------------------------------------
    async def say(
        self,
        person: FakeUser,
        channel_id: str,
        content: str,
        *,
        attachments: list[dict[str, Any]] | None = None,
        message_type: int = 0,
        reference: str | None = None,
        mentions: tuple[FakeUser, ...] = (),
    ) -> dict[str, Any]:
        """`person` posts in a guild channel or thread; returns the MESSAGE_CREATE data."""
        message = message_payload(
            author=person,
            channel_id=channel_id,
            content=content,
            guild_id=None,
            attachments=attachments,
            message_type=message_type,
            reference=reference,
        )
        message["mentions"] = [m.payload() for m in mentions]
        message["mention_everyone"] = "@everyone" in content or "@here" in content
        self.messages[message["id"]] = message
        event = self._as_event(message)
        await self.dispatch("MESSAGE_CREATE", event)
        return event

    async def start_thread(self, person: FakeUser, message: dict[str, Any], name: str) -> str:
        """`person` starts a thread on a guild message; returns its id (the message's id)."""
        thread = thread_payload(thread_id=message["id"], parent_id=message["channel_id"],
                                guild_id=self.guild.id, name=name, owner=person.id)  # fmt: skip
        self.channels[message["id"]] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return str(message["id"])

    async def dm(self, person: FakeUser, content: str, **kwargs: Any) -> dict[str, Any]:
        """`person` writes to the bot in a direct message."""
        channel = self.dm_channel(person)
        return await self.say(person, channel["id"], content, **kwargs)

    async def interact(
        self, person: FakeUser, kind: int, data: dict[str, Any], **kwargs: Any
    ) -> InteractionRecord:
        """Dispatch an INTERACTION_CREATE and wait (bounded) until the bot has answered it."""
        record = self.start_interaction(person, kind, data, **kwargs)
        await self.dispatch("INTERACTION_CREATE", record.payload)
        await self.answered(record)
        return record

    async def answered(self, record: InteractionRecord, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not record.is_final():
            record.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the bot never answered interaction {record.payload['data']}")
            try:
                await asyncio.wait_for(record.changed.wait(), remaining)
            except TimeoutError:
                continue

"""A fake Discord (REST + gateway on loopback) that the real discord.Client logs into."""

from __future__ import annotations

import asyncio
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
from tests.fake_discord_rules import callback_problems, command_problems, message_problems

API = "/api/v10"
INTERACTION_DEADLINE = 3.0  # seconds Discord gives a bot to answer an interaction


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    # discord.py compares the header to "application/json" exactly: no charset suffix.
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(body=json.dumps(data).encode(), status=status, headers=all_headers)


def error(status: int, code: int, message: str, errors: Any = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status)


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


class FakeDiscord(GatewayMixin, InteractionsMixin):
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
        self._failures: list[PlannedFailure] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> FakeDiscord:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/gateway", self._gateway_ws)
        app.router.add_route("*", API + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
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
    ) -> None:
        """Answer the next matching request with this error instead of handling it."""
        self._failures.append(
            PlannedFailure(method, re.compile(path_regex), status, body, headers or {})
        )

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
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode(errors="replace")
        entry = Recorded(request.method, request.path.removeprefix(API), parsed)
        self.requests.append(entry)
        for failure in self._failures:
            if failure.method == request.method and failure.pattern.search(entry.path):
                self._failures.remove(failure)
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

    def _routes(self) -> list[tuple[str, str, Callable[..., Awaitable[web.Response]]]]:
        return [
            ("GET", r"/users/@me", self._me),
            ("GET", r"/oauth2/applications/@me", self._application),
            ("GET", r"/gateway(/bot)?", self._gateway_info),
            ("GET", r"/channels/(?P<cid>\d+)", self._get_channel),
            ("POST", r"/channels/(?P<cid>\d+)/messages", self._post_message),
            ("PATCH", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._edit_message),
            ("POST", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)/threads", self._thread),
            ("POST", r"/users/@me/channels", self._open_dm),
            ("PUT", r"/applications/(?P<app>\d+)/commands", self._sync),
            ("PUT", r"/applications/(?P<app>\d+)/guilds/(?P<gid>\d+)/commands", self._sync),
            ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback", self._callback),
            ("POST", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)", self._followup),
            ("PATCH", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/@original", self._edit),
        ]

    async def _me(self, body: Any) -> web.Response:
        return json_response({**self.bot.payload(), "verified": True, "mfa_enabled": False})

    async def _application(self, body: Any) -> web.Response:
        return json_response(
            {
                "id": self.application_id,
                "name": "Tidings",
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "verify_key": "00" * 32,
                "owner": FakeUser(snowflake(), "owner").payload(),
                "flags": 0,
                "interactions_endpoint_url": None,
            }
        )

    async def _gateway_info(self, body: Any) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return json_response({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    async def _get_channel(self, body: Any, cid: str) -> web.Response:
        if cid not in self.channels:
            return error(404, 10003, "Unknown Channel")
        return json_response(self.channels[cid])

    def _rejected(self, problems: list[str]) -> web.Response | None:
        """400 Invalid Form Body for a payload Discord would refuse; kept for the test to see."""
        if not problems:
            return None
        self.invalid.extend(problems)
        if any(p.startswith("content:") for p in problems):
            detail = {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
            return error(400, 50035, "Invalid Form Body", {"content": {"_errors": [detail]}})
        return error(400, 50035, "Invalid Form Body", {"_errors": problems})

    def _invalid_message(self, body: dict[str, Any]) -> web.Response | None:
        rejected = self._rejected(message_problems(body))
        if rejected is not None:
            return rejected
        if not body.get("content") and not body.get("embeds") and not body.get("components"):
            return error(400, 50006, "Cannot send an empty message")
        return None

    async def _post_message(self, body: dict[str, Any], cid: str) -> web.Response:
        channel = self.channels.get(cid)
        if channel is None:
            return error(404, 10003, "Unknown Channel")
        if channel["type"] == 1 and channel["recipients"][0]["id"] in self.dm_closed:
            return error(403, 50007, "Cannot send messages to this user")
        problem = self._invalid_message(body)
        if problem is not None:
            return problem
        message = message_payload(
            author=self.bot,
            channel_id=cid,
            content=body.get("content") or "",
            guild_id=None,
            embeds=body.get("embeds"),
            components=body.get("components"),
        )
        self.messages[message["id"]] = message
        await self.dispatch("MESSAGE_CREATE", self._as_event(message))
        return json_response(message)

    def _as_event(self, message: dict[str, Any]) -> dict[str, Any]:
        guild_id = self.channels[message["channel_id"]].get("guild_id")
        if not guild_id:
            return message
        author = next(u for u in self.members if u.id == message["author"]["id"])
        member = author.member()
        member.pop("user")
        return {**message, "guild_id": guild_id, "member": member}

    async def _edit_message(self, body: dict[str, Any], cid: str, mid: str) -> web.Response:
        message = self.messages.get(mid)
        if message is None or message["channel_id"] != cid:
            return error(404, 10008, "Unknown Message")
        problem = self._invalid_message({**message, **body})
        if problem is not None:
            return problem
        message.update({k: v for k, v in body.items() if k in ("content", "embeds", "components")})
        message["edited_timestamp"] = message["timestamp"]
        return json_response(message)

    async def _thread(self, body: dict[str, Any], cid: str, mid: str) -> web.Response:
        message = self.messages.get(mid)
        if message is None or message["channel_id"] != cid:
            return error(404, 10008, "Unknown Message")
        if mid in self.channels:
            return error(400, 160004, "A thread has already been created for this message")
        if not 1 <= len(body.get("name", "")) <= 100:
            return error(400, 50035, "Invalid Form Body", {"name": "length"})
        thread = thread_payload(
            thread_id=mid,
            parent_id=cid,
            guild_id=self.guild.id,
            name=body["name"],
            owner=self.bot.id,
        )
        self.channels[mid] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return json_response(thread, 201)

    async def _open_dm(self, body: dict[str, Any]) -> web.Response:
        recipient = next((u for u in self.members if u.id == str(body["recipient_id"])), None)
        if recipient is None:
            return error(400, 50033, "Invalid Recipient(s)")
        return json_response(self.dm_channel(recipient))

    def dm_channel(self, person: FakeUser) -> dict[str, Any]:
        for channel in self.channels.values():
            if channel["type"] == 1 and channel["recipients"][0]["id"] == person.id:
                return channel
        channel = {"id": snowflake(), "type": 1, "recipients": [person.payload()], "flags": 0}
        channel["last_message_id"] = None
        self.channels[channel["id"]] = channel
        return channel

    async def _sync(self, body: list[dict[str, Any]], app: str, gid: str = "") -> web.Response:
        if app != self.application_id:
            return error(403, 50001, "Missing Access")
        rejected = self._rejected(command_problems(body))
        if rejected is not None:
            return rejected
        synced = [{**c, "id": snowflake(), "application_id": app, "version": "1"} for c in body]
        for command in synced:
            if gid:
                command["guild_id"] = gid
        self.commands[gid or "global"] = synced
        return json_response(synced)

    async def _callback(self, body: dict[str, Any], iid: str, token: str) -> web.Response:
        record = self.interactions.get(token)
        if record is None or record.payload["id"] != iid:
            return error(404, 10062, "Unknown interaction")
        if time.monotonic() - record.sent_at > self.interaction_deadline:
            record.rejected.append("answered after 3 s")
            record.changed.set()
            return error(404, 10062, "Unknown interaction")
        if record.callbacks:
            return error(400, 40060, "Interaction has already been acknowledged.")
        rejected = self._rejected(callback_problems(body))
        if rejected is not None:
            record.rejected.append("invalid response")
            record.changed.set()
            return rejected
        record.callbacks.append(body)
        record.changed.set()
        reply = {"id": iid, "type": record.payload["type"]}
        if body["type"] in (4, 5):
            reply["response_message_id"] = snowflake()
            reply["response_message_loading"] = body["type"] == 5
            ephemeral = bool((body.get("data") or {}).get("flags", 0) & 64)
            reply["response_message_ephemeral"] = ephemeral
        return json_response({"interaction": reply})

    async def _followup(self, body: dict[str, Any], app: str, token: str) -> web.Response:
        record = self.interactions.get(token)
        if record is None or not record.callbacks:
            return error(404, 10015, "Unknown Webhook")
        problem = self._invalid_message(body)
        if problem is not None:
            return problem
        record.followups.append(body)
        record.changed.set()
        channel_id = record.payload["channel_id"]
        return json_response(
            message_payload(author=self.bot, channel_id=channel_id, content="", guild_id=None)
            | {"content": body.get("content", ""), "webhook_id": app}
        )

    async def _edit(self, body: dict[str, Any], app: str, token: str) -> web.Response:
        return await self._followup(body, app, token)

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
        self.messages[message["id"]] = message
        event = self._as_event(message)
        await self.dispatch("MESSAGE_CREATE", event)
        return event

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

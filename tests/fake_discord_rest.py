"""REST half of the fake Discord: the routes discord.py calls, answered the way Discord does."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from email.parser import BytesParser
from email.policy import default
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fake_discord_payloads import (
    FakeGuild,
    FakeUser,
    message_payload,
    snowflake,
    thread_payload,
)
from tests.fake_discord_rules import callback_problems, command_problems, message_problems

if TYPE_CHECKING:
    from tests.fake_discord import InteractionRecord


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


def from_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """A multipart message create as discord.py sends files: `payload_json` is the JSON body,
    `files[n]` the files; these come back under "_files" as (filename, bytes, content type)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    parsed = BytesParser(policy=default).parsebytes(head + body)
    payload: dict[str, Any] = {}
    files: list[tuple[str, bytes, str]] = []
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        if name == "payload_json":
            payload = json.loads(data)
        else:
            files.append((part.get_filename() or "", data, part.get_content_type()))
    return {**payload, "_files": files}


class RestMixin:
    """Route handlers; FakeDiscord holds the state they read and change."""

    application_id: str
    bot: FakeUser
    guild: FakeGuild
    members: list[FakeUser]
    channels: dict[str, dict[str, Any]]
    messages: dict[str, dict[str, Any]]
    commands: dict[str, list[dict[str, Any]]]
    dm_closed: set[str]
    files: dict[str, bytes]
    interactions: dict[str, InteractionRecord]
    interaction_deadline: float
    invalid: list[str]

    if TYPE_CHECKING:  # provided by FakeDiscord and GatewayMixin

        @property
        def gateway_url(self) -> str: ...

        async def dispatch(self, name: str, data: Any) -> None: ...

        def attachment(self, filename: str, data: bytes, content_type: str) -> dict[str, Any]: ...

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
        if not any(body.get(key) for key in ("content", "embeds", "components", "_files")):
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
            attachments=[self.attachment(*sent) for sent in body.get("_files", ())],
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
        # Discord answers every command with a description: "" for context menu entries.
        synced = [{"description": "", **c, "id": snowflake(), "application_id": app,
                   "version": "1"} for c in body]  # fmt: skip
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

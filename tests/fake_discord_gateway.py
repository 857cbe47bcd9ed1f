"""The fake Discord gateway: HELLO, IDENTIFY/READY, RESUME with replay, heartbeats, dispatch."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.fake_discord_payloads import FakeGuild, FakeUser

HEARTBEAT_INTERVAL_MS = 41250


@dataclass
class Session:
    """A gateway session; it outlives its socket so that RESUME can replay what was missed."""

    id: str
    ws: web.WebSocketResponse | None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seq(self) -> int:
        return len(self.events)


class GatewayMixin:
    """Gateway half of FakeDiscord; the REST half provides bot, guild, members, URLs."""

    bot: FakeUser
    guild: FakeGuild
    members: list[FakeUser]
    application_id: str
    channels: dict[str, dict[str, Any]]

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.frames: list[dict[str, Any]] = []  # everything the bot sent over the gateway
        self.resumes = 0
        self.replay_from: int | None = None
        self._heartbeat_waiters: list[asyncio.Future[None]] = []
        self._resumed = asyncio.Event()

    if TYPE_CHECKING:  # provided by FakeDiscord

        @property
        def gateway_url(self) -> str: ...

    @property
    def identify(self) -> dict[str, Any]:
        """The last IDENTIFY payload (token, intents, properties)."""
        return next(f["d"] for f in reversed(self.frames) if f["op"] == 2)

    async def _gateway_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}})
        session: Session | None = None
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                break
            frame = json.loads(message.data)
            self.frames.append(frame)
            op = frame.get("op")
            if op == 1:
                await ws.send_json({"op": 11})
                for waiter in self._heartbeat_waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                self._heartbeat_waiters.clear()
            elif op == 2:
                session = await self._identify(ws)
            elif op == 6:
                session = await self._resume(ws, frame["d"])
        if session is not None and session.ws is ws:
            session.ws = None
        return ws

    async def _identify(self, ws: web.WebSocketResponse) -> Session:
        threads = [
            c for c in self.channels.values()
            if c["type"] == 11 and not c["thread_metadata"]["archived"]
        ]  # fmt: skip
        session = Session(secrets.token_hex(8), ws)
        self.sessions[session.id] = session
        ready = {
            "v": 10,
            "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": self.guild.id, "unavailable": True}],
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "shard": [0, 1],
            "application": {"id": self.application_id, "flags": 0},
            "private_channels": [],
            "relationships": [],
        }
        await self._send(session, "READY", ready)
        await self._send(session, "GUILD_CREATE", self.guild.create_payload(self.members, threads))
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        session = self.sessions.get(data.get("session_id", ""))
        if session is None:
            await ws.send_json({"op": 9, "d": False})
            return None
        self.resumes += 1
        session.ws = ws
        start = data.get("seq") or 0
        if self.replay_from is not None:
            start, self.replay_from = min(start, self.replay_from), None
        for event in session.events[start:]:
            await ws.send_json(event)
        await self._send(session, "RESUMED", {"_trace": ["fake-discord-gateway"]})
        self._resumed.set()
        return session

    async def _send(self, session: Session, name: str, data: Any) -> None:
        frame = {"op": 0, "t": name, "s": session.seq + 1, "d": data}
        session.events.append(frame)
        if session.ws is not None and not session.ws.closed:
            await session.ws.send_json(frame)

    async def dispatch(self, name: str, data: Any) -> None:
        """Send a DISPATCH event to every session (kept for replay if its socket is down)."""
        for session in self.sessions.values():
            await self._send(session, name, data)

    def seq(self) -> int:
        """The sequence number of the newest event of the newest session."""
        return max((s.seq for s in self.sessions.values()), default=0)

    async def sync(self, within: float = 5.0) -> None:
        """Return once the bot has read every event sent so far (a heartbeat round trip)."""
        live = [s for s in self.sessions.values() if s.ws is not None and not s.ws.closed]
        if not live:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._heartbeat_waiters.append(waiter)
        for session in live:
            assert session.ws is not None
            await session.ws.send_json({"op": 1, "d": None})
        await asyncio.wait_for(waiter, within)

    async def drop(self, *, replay_from: int | None = None, within: float = 10.0) -> None:
        """Close the bot's socket like a network blip; wait until it has RESUMEd.

        With `replay_from`, the RESUME replays events after that sequence number even if the
        bot had seen them: Discord delivers at least once, and this is how a duplicate looks.
        """
        self.replay_from = replay_from
        self._resumed.clear()
        for session in self.sessions.values():
            if session.ws is not None:
                await session.ws.close(code=4000, message=b"blip")
        await asyncio.wait_for(self._resumed.wait(), within)

    async def close_sockets(self, code: int = 1000) -> None:
        for session in self.sessions.values():
            if session.ws is not None and not session.ws.closed:
                await session.ws.close(code=code)

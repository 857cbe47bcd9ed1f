"""Fake Slack on loopback: Web API (records calls; scripted 429, ok:false, 5xx) and Socket Mode."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-test-app-token"
BOT_USER = "UBOT"
BOT_ID = "B0BOT"
TEAM = "T0TEST"
WAIT = 5.0  # seconds any wait on the app may take before the test fails instead of hanging


@dataclass
class Call:
    """One Web API request as the fake received it."""

    method: str
    args: dict[str, Any]
    token: str
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class Failure:
    status: int = 200
    error: str = ""
    retry_after: int | None = None
    body: str = ""  # a raw body instead (e.g. a proxy's HTML page, or broken JSON)
    content_type: str = "text/html"
    # Set when the call arrived, which is then never answered (as if Slack hung) until the
    # fake stops: for a sender that dies with a call in flight.
    stalled: asyncio.Event | None = None


@dataclass
class FakeSlack:
    """Enough of the Web API for the adapter; `calls` is the transcript of what it was asked."""

    bot_token: str = BOT_TOKEN
    app_token: str = APP_TOKEN
    calls: list[Call] = field(default_factory=list)
    _failures: dict[str, deque[Failure]] = field(default_factory=lambda: defaultdict(deque))
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _posted: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _acks: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0
    # users.info answers: user id -> the user object (profile.email as users:read.email shows it)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Files people shared (id -> name, bytes), served at their url_private_download, and
    # files the bot uploaded: name, bytes, channel and thread of each, in order.
    hosted: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    uploads: list[dict[str, Any]] = field(default_factory=list)
    _pending_uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # the SDK reads users.info with GET
        app.router.add_post("/respond/{hook}", self._respond)
        app.router.add_get("/link/", self._socket)
        app.router.add_get("/files-pri/{file_id}/{name}", self._download)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._stopping.set()
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def response_url(self) -> str:
        """A shortcut's or command's response_url: a webhook that answers in its conversation."""
        return f"http://127.0.0.1:{self.port}/respond/{next(self._ts)}"

    # -- scripting and inspection ----------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str = "",
        retry_after: int | None = None,
        times: int = 1,
        body: str = "",
        content_type: str = "text/html",
    ) -> None:
        """Answer the next `times` calls of `method` with a 429, an HTTP error, ok:false, or
        a raw `body`."""
        for _ in range(times):
            failure = Failure(status, error, retry_after, body, content_type)
            self._failures[method].append(failure)

    def stall(self, method: str) -> asyncio.Event:
        """Never answer the next call of `method`, and do nothing of it; the event returned is
        set when it arrives."""
        arrived = asyncio.Event()
        self._failures[method].append(Failure(status=503, stalled=arrived))
        return arrived

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [call.args for call in self.calls if call.method == method]

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages the bot posted (chat.postMessage that Slack accepted), oldest first."""
        return [
            call.args
            for call in self.calls
            if call.method == "chat.postMessage"
            and call.answer.get("ok")
            and (channel is None or call.args.get("channel") == channel)
        ]

    def cards(self, channel: str) -> list[str]:
        """The ts of every Block Kit message (triage card) posted in `channel`."""
        return [
            str(call.answer["ts"])
            for call in self.calls
            if call.method == "chat.postMessage"
            and call.answer.get("ok")
            and call.args.get("channel") == channel
            and call.args.get("blocks")
        ]

    def host_file(self, name: str, data: bytes, mimetype: str) -> dict[str, Any]:
        """A file someone shared: its file object as a file_share event carries it."""
        file_id = f"F{next(self._ts):08d}"
        self.hosted[file_id] = (name, data)
        private = f"http://127.0.0.1:{self.port}/files-pri/{file_id}/{name}"
        return {
            "id": file_id, "created": 1763900000, "name": name, "title": name,
            "mimetype": mimetype, "filetype": name.rpartition(".")[2], "size": len(data),
            "mode": "hosted", "url_private": private, "url_private_download": private + "?dl=1",
        }  # fmt: skip

    async def _download(self, request: web.Request) -> web.Response:
        """A private file: only with the bot token (Slack answers a login page otherwise)."""
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        self.calls.append(Call("download", dict(request.match_info), token))
        hosted = self.hosted.get(request.match_info["file_id"])
        if token != self.bot_token or hosted is None:
            return web.Response(status=302, headers={"Location": "/signin"})
        return web.Response(body=hosted[1], content_type="application/octet-stream")

    async def _upload(self, request: web.Request) -> web.Response:
        pending = self._pending_uploads.get(request.match_info["file_id"])
        if pending is None:
            return web.Response(status=404, text="no such upload")
        pending["data"] = await request.read()
        return web.Response(text=f"OK - {len(pending['data'])}")

    def next_ts(self) -> str:
        return f"1700000{next(self._ts):03d}.000100"

    # -- Web API ---------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            args = await request.json()
        else:
            args = dict(await request.post())
        args.update(request.query)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        call = Call(method, args, token)
        self.calls.append(call)
        failures = self._failures.get(method)
        if failures:
            failure = failures.popleft()
            if failure.stalled is not None:
                failure.stalled.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), WAIT)
            if failure.body:
                return web.Response(
                    status=failure.status, text=failure.body, content_type=failure.content_type
                )
            if failure.status == 429:
                headers = {"Retry-After": str(failure.retry_after or 0)}
                return web.json_response(
                    {"ok": False, "error": "ratelimited"}, status=429, headers=headers
                )
            if failure.status >= 500:
                return web.Response(status=failure.status, text="upstream trouble")
            return web.json_response({"ok": False, "error": failure.error})
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if token != expected:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        call.answer = handler(args)
        return web.json_response(call.answer)

    async def _respond(self, request: web.Request) -> web.Response:
        """A POST to a response_url, recorded as a call to "response_url"; Slack answers "ok"."""
        args = await request.json()
        call = Call("response_url", args, "", {"ok": True})
        self.calls.append(call)
        if not args.get("text") and not args.get("blocks"):
            return web.Response(status=400, text="no_text")
        return web.Response(text="ok")

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if channel[:1] in ("U", "W"):
            channel = "D" + channel[1:]  # posting to a user id opens the DM with the bot
        ts = self.next_ts()
        message = {
            "type": "message",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "ts": ts,
            "text": args.get("text", ""),
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self._posted[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel", "")), str(args.get("ts", "")))
        if key not in self._posted:
            return {"ok": False, "error": "message_not_found"}
        self._posted[key]["text"] = args.get("text", "")
        return {"ok": True, "channel": key[0], "ts": key[1], "text": args.get("text", "")}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self.next_ts()}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        return {"ok": True, "view": {**view, "id": f"V{next(self._ts):06d}"}}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def member(self, user: str, email: str, **fields: Any) -> None:
        """A member of the test workspace whose confirmed profile email is `email`."""
        profile = {"real_name": user.title(), "display_name": user.lower(), "email": email}
        self.users[user] = {"id": user, "team_id": TEAM, "name": user.lower(), "deleted": False,
                            "is_bot": False, "is_app_user": False, "is_email_confirmed": True,
                            "profile": profile, **fields}  # fmt: skip

    def _files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ts):08d}"
        self._pending_uploads[file_id] = {"name": args["filename"], "data": None}
        url = f"http://127.0.0.1:{self.port}/upload/{file_id}"
        return {"ok": True, "upload_url": url, "file_id": file_id}

    def _files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = json.loads(str(args.get("files", "[]")))
        done = []
        for item in files:
            pending = self._pending_uploads.pop(str(item.get("id")), None)
            if pending is None or pending["data"] is None:
                return {"ok": False, "error": "file_not_found"}
            self.uploads.append({**pending, "channel": args.get("channel_id", ""),
                                 "thread_ts": args.get("thread_ts", "")})  # fmt: skip
            done.append({"id": item["id"], "title": item.get("title", pending["name"])})
        return {"ok": True, "files": done}

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": BOT_USER, "bot_id": BOT_ID, "team_id": TEAM}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={uuid.uuid4()}"}

    # -- Socket Mode -----------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "connection_info": {"app_id": "A0TEST"},
            }
        )
        self._connected.set()
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                waiter = self._acks.pop(str(data.get("envelope_id", "")), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(data)
        finally:
            self._sockets.remove(socket)
            if not self._sockets:
                self._connected.clear()
        return socket

    async def drop_connections(self) -> None:
        """Slack closes the app's WebSockets (as it does on deploys and refreshes)."""
        for socket in list(self._sockets):
            await socket.close()
        self._connected.clear()

    async def wait_connected(self) -> None:
        await asyncio.wait_for(self._connected.wait(), WAIT)

    async def push(
        self,
        payload: dict[str, Any],
        *,
        kind: str = "events_api",
        retry_attempt: int = 0,
    ) -> dict[str, Any]:
        """Send one envelope over the socket and wait for the app's acknowledgement."""
        await self.wait_connected()
        envelope_id = str(uuid.uuid4())
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = waiter
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": retry_attempt,
                "retry_reason": "timeout" if retry_attempt else "",
            }
        )
        return await asyncio.wait_for(waiter, WAIT)

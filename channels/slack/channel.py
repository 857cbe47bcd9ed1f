"""SlackChannel: the thin I/O class (HTTP events route or Socket Mode, Web API sends)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from channels.download import DownloadError, download, host_of
from channels.slack import inbound
from channels.slack.app import build_app
from channels.slack.client import (
    delivery_error,
    error_code,
    make_client,
    needs_operator,
    upload_files,
)
from channels.slack.inbound import CHANNEL, thread_key
from channels.slack.outbound import card_args, message_args
from core import metrics
from core.channel import (
    Attachment,
    Audience,
    Decoded,
    DeliveryError,
    Intake,
    OutboundMessage,
    Progress,
    ReplyTarget,
    SendResult,
)
from core.config import ConfigError, Settings

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
_GONE = frozenset({"message_not_found", "cant_update_message"})
FILE_HOST = "files.slack.com"


def _sent(target: ReplyTarget, message: OutboundMessage, channel: str, ts: str) -> SendResult:
    """What the core keeps of a message posted as `ts` in `channel`."""
    key = thread_key(channel, ts)
    if not target.thread and message.audience is Audience.CUSTOMER:
        # The first message of a new conversation (a DM after the intake form): its ts is
        # the thread everything else goes into, in the channel Slack actually used.
        return SendResult(
            external_id=key, reply_target=ReplyTarget(CHANNEL, channel, ts), thread_keys=(key,)
        )
    return SendResult(external_id=key)


class SlackChannel:
    """Slack via slack-bolt: events, slash command and interactivity on one URL (or a socket)."""

    name = CHANNEL

    def __init__(self, settings: Settings, *, ping_interval: float = 10.0) -> None:
        self._settings = settings
        self._slack = settings.slack
        self._ping_interval = ping_interval
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None
        self._bolt: AsyncApp | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._delivery_problem: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def _check_config(self) -> None:
        missing = [key for key in ("bot_token",) if not getattr(self._slack, key)]
        if self._slack.mode == "http" and not self._slack.signing_secret:
            missing.append("signing_secret")
        if self._slack.mode == "socket" and not self._slack.app_token:
            missing.append("app_token")
        if missing:
            keys = ", ".join(f"slack.{key}" for key in missing)
            raise ConfigError(f"Slack is enabled in {self._slack.mode} mode but {keys} is not set")
        if not self._slack.api_url.endswith("/"):
            raise ConfigError(f"slack.api_url must end with '/': {self._slack.api_url!r}")

    async def start(self, on_message: Intake) -> None:
        """Build the bolt app (no call to Slack), and in Socket Mode connect in the background."""
        self._check_config()
        self._session = aiohttp.ClientSession()
        self._client = make_client(self._settings, self._session)
        listener_client = make_client(self._settings, self._session, with_token=False)
        self._bolt = build_app(self._settings, listener_client, on_message)
        if self._slack.mode == "socket":
            self._socket = AsyncSocketModeHandler(
                self._bolt,
                self._slack.app_token,
                web_client=listener_client,
                ping_interval=self._ping_interval,
            )
            # Connecting retries until Slack answers; start-up must not wait for that.
            self._connecting = asyncio.create_task(self._socket.connect_async())  # type: ignore[no-untyped-call]

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
            self._connecting = None
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        self._bolt = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._client = None

    def problem(self) -> str | None:
        if self._bolt is None:
            return "slack: not started"
        if self._socket is not None:
            session = self._socket.client.current_session
            if session is None or session.closed:
                return "slack: Socket Mode is not connected"
        return self._delivery_problem

    # -- inbound ---------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """POST /slack/events for events, the slash command and interactivity (HTTP mode)."""
        if self._slack.mode != "http":
            return []
        return [web.post(EVENTS_PATH, self._on_http)]

    async def _on_http(self, request: web.Request) -> web.StreamResponse:
        if self._bolt is None:
            # Not accepting yet: Slack retries later, so nothing is lost.
            return web.Response(status=503, text="starting")
        try:
            bolt_request = await to_bolt_request(request)
        except web.HTTPRequestEntityTooLarge:
            metrics.turned_away(CHANNEL, "refused_too_large")
            raise
        bolt_response = await self._bolt.async_dispatch(bolt_request)
        if bolt_response.status == 401:
            # bolt's request verification: a wrong signature, or a timestamp too old (replay).
            metrics.turned_away(CHANNEL, "refused_signature")
        return await to_aiohttp_response(bolt_response)

    def decode(self, payload: bytes) -> Decoded:
        return inbound.decode(payload, self._settings)

    # -- outbound --------------------------------------------------------------------------

    async def send(self, target: ReplyTarget, message: OutboundMessage) -> SendResult:
        return await self.send_parts(target, message, Progress())

    async def send_parts(
        self, target: ReplyTarget, message: OutboundMessage, progress: Progress
    ) -> SendResult:
        """The text, then the files in its thread: the text's key is kept as the first part,
        so a retry after a failed upload sends the files alone, not the text a second time."""
        if self._client is None:
            raise DeliveryError("slack channel is not started")
        try:
            if message.kind == "card" and message.card is not None:
                return await self._send_card(self._client, target, message)
            if progress.done:
                channel, _, ts = progress.done[0].partition(":")
            else:
                response = await self._client.chat_postMessage(**message_args(target, message))
                channel, ts = str(response["channel"]), str(response["ts"])
            if message.attachments:
                if not progress.done:
                    await progress.went_out(thread_key(channel, ts))
                await upload_files(self._client, channel, target.thread or ts, message.attachments)
        except SlackApiError as exc:
            raise self._failed(exc) from exc
        except (aiohttp.ClientError, TimeoutError, SlackRequestError) as exc:
            raise DeliveryError(f"slack unreachable: {exc!r}") from exc
        self._delivery_problem = None
        return _sent(target, message, channel, ts)

    async def _send_card(
        self, client: AsyncWebClient, target: ReplyTarget, message: OutboundMessage
    ) -> SendResult:
        assert message.card is not None
        if message.edit_external_id:
            try:
                await client.chat_update(
                    **card_args(target, message.card, edit_ts=message.edit_external_id)
                )
                return SendResult(external_id=message.edit_external_id)
            except SlackApiError as exc:
                if error_code(exc) not in _GONE:
                    raise
                log.info("slack: card %s is gone; posting a new one", message.edit_external_id)
        response = await client.chat_postMessage(**card_args(target, message.card))
        # Cards are keyed by their plain ts: agent messages in the card's thread carry it.
        return SendResult(external_id=str(response["ts"]))

    async def fetch_file(self, attachment: Attachment, limit: int) -> bytes:
        """A file of a message: Slack's private links open only with the bot token, which is
        only ever sent to Slack's file host (or the configured API host, for a stand-in)."""
        if self._session is None:
            raise DownloadError("slack channel is not started")
        hosts = {FILE_HOST, host_of(self._slack.api_url)}
        token = {"Authorization": f"Bearer {self._slack.bot_token}"}
        return await download(self._session, attachment.stored_at, limit, hosts=hosts,
                              headers=token)  # fmt: skip

    def _failed(self, exc: SlackApiError) -> DeliveryError:
        error = delivery_error(exc)
        if needs_operator(exc):
            self._delivery_problem = f"slack: {error.reason}"
        return error

    @property
    def bolt(self) -> AsyncApp | None:
        """The running bolt app (for tests and the bench); None before start()."""
        return self._bolt

    def __repr__(self) -> str:
        details: dict[str, Any] = {"mode": self._slack.mode, "started": self._bolt is not None}
        return f"SlackChannel({details})"

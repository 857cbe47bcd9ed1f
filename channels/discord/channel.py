"""DiscordChannel: the thin I/O class (start/stop/send/decode/problem) around TidingsClient."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from typing import Any, Literal

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl

from channels.discord.cards import card_embed
from channels.discord.client import NO_MENTIONS, TidingsClient
from channels.discord.translate import FormSpec, Routing, decode, split_text, thread_name
from channels.discord.views import MODAL_ITEMS, card_view, rating_view, words_view
from channels.download import download, host_of
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

CANNOT_DM = 50007  # "Cannot send messages to this user": DMs closed, or no shared server
THREAD_EXISTS = 160004  # "A thread has already been created for this message"
THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080  # a week: the longest Discord allows
CDN_HOSTS = frozenset({"cdn.discordapp.com", "media.discordapp.net"})  # where files live


def point_discord_py_at(api_url: str, gateway_url: str) -> None:
    """Send discord.py's REST and gateway traffic to the configured URLs.

    These are class attributes in discord.py, so the setting is process-global: every
    discord.Client in the process uses the last URLs set here.
    """
    discord.http.Route.BASE = api_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def delivery_error(exc: BaseException) -> DeliveryError:
    """Map a discord.py failure to permanent (do not retry) or temporary (back off) delivery."""
    if isinstance(exc, discord.RateLimited):
        return DeliveryError(
            f"discord rate limit ({exc.retry_after:.0f}s)", retry_after=exc.retry_after
        )
    if isinstance(exc, discord.Forbidden):
        if exc.code == CANNOT_DM:
            return DeliveryError(
                "discord: cannot send messages to this user (DMs closed)", permanent=True
            )
        return DeliveryError(f"discord: forbidden ({exc.code}: {exc.text})", permanent=True)
    if isinstance(exc, discord.NotFound):
        return DeliveryError(f"discord: not found ({exc.code}: {exc.text})", permanent=True)
    if isinstance(exc, discord.DiscordServerError):
        return DeliveryError(f"discord server error {exc.status}")
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429:
            return DeliveryError("discord rate limit (unexpected)", retry_after=60.0)
        return DeliveryError(
            f"discord rejected the message ({exc.code}: {exc.text})", permanent=True
        )
    return DeliveryError(f"discord unreachable: {exc!r}")


def _check_ids(settings: Settings) -> None:
    """Discord ids are numbers (snowflakes); a name or a #mention here is a config mistake."""
    config = settings.discord
    named = {
        "discord.application_id": [config.application_id],
        "discord.guild": [config.guild],
        "discord.triage_channel": [config.triage_channel],
        "discord.intake_channels": config.intake_channels,
        "discord.agent_roles": config.agent_roles,
    }
    for key, values in named.items():
        for value in values:
            if value and not value.isdigit():
                raise ConfigError(
                    f"{key}: {value!r} is not a Discord id (a number like 1234567890)"
                )


async def files_of(message: OutboundMessage) -> list[discord.File]:
    """The message's files, read now: discord.File is used up by one request (a retry makes
    new ones). A file gone from disk cannot come back: the delivery fails for good."""
    files = []
    for item in message.attachments:
        try:
            data = await asyncio.to_thread(Path(item.stored_at).read_bytes)
        except OSError as exc:
            raise DeliveryError(f"file {item.name!r} is gone: {exc}", permanent=True) from exc
        files.append(discord.File(io.BytesIO(data), filename=item.name))
    return files


class DiscordChannel:
    """The Discord adapter; lifecycle owned by the app (login + connect task, never run())."""

    name = "discord"

    def __init__(
        self,
        settings: Settings,
        *,
        ready_timeout: float = 30.0,
        guild_ready_timeout: float = 2.0,
        defer_after: float = 2.0,
    ) -> None:
        if len(settings.intake.fields) > MODAL_ITEMS:
            raise ConfigError(
                f"intake.fields: a Discord modal holds at most {MODAL_ITEMS} fields, "
                f"{len(settings.intake.fields)} are configured"
            )
        _check_ids(settings)
        self.settings = settings
        self.routing = Routing.from_settings(settings)
        self.form = FormSpec(tuple(settings.intake.fields), dict(settings.intake.impact_priority))
        self.ready_timeout = ready_timeout
        self.guild_ready_timeout = guild_ready_timeout
        self.defer_after = defer_after
        self.client: TidingsClient | None = None
        self.connection: asyncio.Task[None] | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._threads: set[str] = set()
        self._downloads: aiohttp.ClientSession | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, on_message: Intake) -> None:
        config = self.settings.discord
        if not config.token:
            raise ConfigError("discord.token is not set (TIDINGS_DISCORD__TOKEN)")
        point_discord_py_at(config.api_url, config.gateway_url)
        client = TidingsClient(
            self.settings,
            guild_ready_timeout=self.guild_ready_timeout,
            defer_after=self.defer_after,
        )
        client.intake = on_message
        self.client = client
        try:
            await client.login(config.token)
        except discord.LoginFailure as exc:
            await client.close()
            raise ConfigError("discord.token was refused by Discord") from exc
        self.connection = asyncio.create_task(client.connect(), name="discord-gateway")
        ready = asyncio.create_task(client.wait_until_ready())
        await asyncio.wait(
            {ready, self.connection},
            timeout=self.ready_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self.connection.done():
            ready.cancel()
            error = self.connection.exception() or RuntimeError("gateway connection ended")
            await client.close()
            raise RuntimeError(f"discord gateway connection failed: {error!r}") from error
        if not ready.done():
            # Keep connecting in the background; /healthz reports it meanwhile.
            log.warning("discord: not ready after %.0fs, continuing to connect", self.ready_timeout)
            self._sync_task = asyncio.create_task(self._sync_when_ready(ready))
            return
        await client.sync_commands()

    async def _sync_when_ready(self, ready: asyncio.Task[None]) -> None:
        await ready
        assert self.client is not None
        try:
            await self.client.sync_commands()
        except discord.HTTPException:
            log.exception("discord: command sync failed")

    async def stop(self) -> None:
        if self._downloads is not None:
            await self._downloads.close()
            self._downloads = None
        client, self.client = self.client, None
        if self._sync_task is not None:
            self._sync_task.cancel()
        if client is not None:
            await client.close()
        if self.connection is not None:
            try:
                await asyncio.wait_for(self.connection, 10.0)
            except (TimeoutError, asyncio.CancelledError):
                pass
            except Exception:  # the connection's own failure was reported by problem()
                log.exception("discord gateway task ended with an error")

    def problem(self) -> str | None:
        if self.client is None or self.connection is None:
            return "discord: not started"
        if self.connection.done():
            error = None if self.connection.cancelled() else self.connection.exception()
            return f"discord: gateway connection ended ({error!r})"
        if not self.client.is_ready():
            return "discord: not connected to the gateway (reconnecting)"
        return None

    def decode(self, payload: bytes) -> Decoded:
        return decode(payload, self.routing, self.form)

    async def fetch_file(self, attachment: Attachment, limit: int) -> bytes:
        """A message's file, fetched while its link still works (Discord's links expire)."""
        if self._downloads is None:
            self._downloads = aiohttp.ClientSession()
        hosts = {*CDN_HOSTS, host_of(self.settings.discord.api_url)}
        return await download(self._downloads, attachment.stored_at, limit, hosts=hosts)

    # -- sending -----------------------------------------------------------------------------
    async def send(self, target: ReplyTarget, message: OutboundMessage) -> SendResult:
        return await self.send_parts(target, message, Progress())

    async def send_parts(
        self, target: ReplyTarget, message: OutboundMessage, progress: Progress
    ) -> SendResult:
        """A reply over 2,000 characters goes out in parts: each part's id is kept before the
        next is sent, so a retry sends only the parts the customer has not seen yet."""
        client = self.client
        if client is None or client.is_closed():
            raise DeliveryError("discord is not connected")
        try:
            if message.kind == "card":
                return await self._send_card(client, target, message)
            return await self._send_text(client, target, message, progress)
        except DeliveryError:
            raise
        except (discord.DiscordException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise delivery_error(exc) from exc

    async def _send_text(
        self,
        client: TidingsClient,
        target: ReplyTarget,
        message: OutboundMessage,
        progress: Progress,
    ) -> SendResult:
        chunks = split_text(message.text)
        if not chunks or not any(c.strip() for c in chunks):
            raise DeliveryError("empty message", permanent=True)
        destination = target.address
        if target.thread:
            await self._ensure_thread(client, target, message)
            destination = target.thread
            if message.audience is Audience.CUSTOMER:
                # A ticket is answered there, so what its customer writes there is kept.
                client.ticket_threads.add(target.thread)
        messageable = client.get_partial_messageable(int(destination))
        ids = list(progress.done)
        for index, chunk in enumerate(chunks[len(ids) :], start=len(ids)):
            extra: dict[str, Any] = {}
            if message.rating_scale and index == len(chunks) - 1:
                # The satisfaction question's buttons go under the message's last part.
                number = int(message.ticket_ref.removeprefix("T-"))
                extra["view"] = rating_view(number, message.rating_scale)
            elif message.buttons and index == len(chunks) - 1:
                buttons = words_view(message.buttons)
                if buttons is not None:
                    extra["view"] = buttons
            if message.attachments and index == len(chunks) - 1:
                extra["files"] = await files_of(message)  # under the message's last part
            sent = await messageable.send(chunk, allowed_mentions=NO_MENTIONS, **extra)
            ids.append(str(sent.id))
            if index < len(chunks) - 1:  # kept before the next part (a single part keeps none)
                await progress.went_out(ids[-1])
        keys = tuple(ids[1:])
        if message.audience is Audience.CUSTOMER and not target.thread:
            # Customers without a thread are in a DM: later DMs find the ticket by this key.
            keys = (*keys, f"dm:{target.address}")
        return SendResult(external_id=ids[0], thread_keys=keys)

    async def _ensure_thread(
        self, client: TidingsClient, target: ReplyTarget, message: OutboundMessage
    ) -> None:
        # Discord gives a thread started on a message that message's id, so the thread id is
        # known before it exists; create it on first use (and tolerate "already exists").
        if target.thread in self._threads:
            return
        try:
            await client.http.start_thread_with_message(
                int(target.address),
                int(target.thread),
                name=thread_name(message.ticket_ref, message.subject),
                auto_archive_duration=THREAD_ARCHIVE_MINUTES,
            )
        except discord.HTTPException as exc:
            if exc.code != THREAD_EXISTS:
                raise
        self._threads.add(target.thread)

    async def _send_card(
        self, client: TidingsClient, target: ReplyTarget, message: OutboundMessage
    ) -> SendResult:
        card = message.card
        if card is None:
            raise DeliveryError("card message without a card", permanent=True)
        embed = discord.Embed.from_dict(card_embed(card))
        channel = client.get_partial_messageable(int(target.address))
        if message.edit_external_id:
            await channel.get_partial_message(int(message.edit_external_id)).edit(
                embed=embed, view=card_view(card), allowed_mentions=NO_MENTIONS
            )
            return SendResult(external_id=message.edit_external_id)
        sent = await channel.send(embed=embed, view=card_view(card), allowed_mentions=NO_MENTIONS)
        try:
            # The card's thread is where agents answer; a failure here must not re-post the card.
            await client.http.start_thread_with_message(
                int(target.address),
                sent.id,
                name=thread_name(card.ref, card.subject),
                auto_archive_duration=THREAD_ARCHIVE_MINUTES,
            )
            self._threads.add(str(sent.id))
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.warning("discord: no thread on card %s: %s", card.ref, exc)
        return SendResult(external_id=str(sent.id))

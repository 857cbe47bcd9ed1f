"""The discord.Client: stores inbound messages, runs agent commands and answers interactions."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any

import discord
from discord import app_commands

from channels.discord.ticket_threads import TicketThreads
from channels.discord.translate import (
    CHANNEL,
    NOT_A_TICKET_THREAD,
    FormSpec,
    Routing,
    split_text,
    where,
)
from core import metrics
from core.agents import authorise, refusal
from core.channel import Actor, CommandReply, Intake, RawInbound
from core.config import Settings

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
FAILED = "That did not work because of a problem on our side (it is logged). Nothing was changed."


def intents() -> discord.Intents:
    """Exactly what Tidings needs; message_content is privileged (enable it in the portal)."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = True
    return wanted


def actor_of(user: discord.User | discord.Member) -> Actor:
    roles: tuple[str, ...] = ()
    if isinstance(user, discord.Member):
        roles = tuple(str(role.id) for role in user.roles if not role.is_default())
    return Actor(CHANNEL, str(user.id), user.name, roles)


class TidingsClient(discord.Client):
    """One bot connection; the adapter owns its lifecycle (login + connect, never run())."""

    def __init__(
        self, settings: Settings, *, guild_ready_timeout: float = 2.0, defer_after: float = 2.0
    ) -> None:
        options: dict[str, Any] = {}
        if settings.discord.application_id:  # else learnt at login
            options["application_id"] = int(settings.discord.application_id)
        super().__init__(
            intents=intents(),
            allowed_mentions=NO_MENTIONS,
            guild_ready_timeout=guild_ready_timeout,
            # A longer rate limit than this surfaces as RateLimited, so the outbox (not a
            # sleeping coroutine) waits it out and /healthz stays truthful.
            max_ratelimit_timeout=30.0,
            chunk_guilds_at_startup=False,
            **options,
        )
        self.settings = settings
        self.intake: Intake | None = None
        self.routing = Routing.from_settings(settings)
        self.form = FormSpec(tuple(settings.intake.fields), dict(settings.intake.impact_priority))
        # Interactions must be answered within 3 s; past this we defer and answer by follow-up.
        self.defer_after = defer_after
        # A database blip must not lose a message Discord will never send again.
        self.store_retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
        self._looked_up: dict[int, tuple[str, str]] = {}
        self.ticket_threads = TicketThreads(self._names_a_ticket)
        self.tree: app_commands.CommandTree[TidingsClient] = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        from channels.discord.commands import TicketGroup
        from channels.discord.log_menu import log_menu
        from channels.discord.views import CardButton, RatingButton, WordsButton

        self.tree.add_command(TicketGroup())
        self.tree.add_command(log_menu())
        # Dynamic items match custom ids by pattern, so buttons on cards posted before a
        # restart keep working without re-registering a view per message.
        self.add_dynamic_items(CardButton, RatingButton, WordsButton)

    async def sync_commands(self) -> None:
        guild = self.settings.discord.guild
        if guild:
            target = discord.Object(int(guild))
            self.tree.copy_global_to(guild=target)
            await self.tree.sync(guild=target)
        else:
            await self.tree.sync()

    # -- inbound -----------------------------------------------------------------------------
    async def on_message(self, message: discord.Message) -> None:
        if self.intake is None:
            return
        if self.user is not None and message.author.id == self.user.id:
            metrics.turned_away(CHANNEL, "ignored_self")
            return
        if message.author.bot or message.webhook_id is not None:
            metrics.turned_away(CHANNEL, "ignored_bot")
            return
        record = await self.record_of(message)
        place = where(record, self.routing)
        if place == NOT_A_TICKET_THREAD and await self.ticket_threads.holds(
            str(record["channel_id"])
        ):
            # A ticket is answered in this thread (Log as ticket): its customer is heard here.
            record["ticket_thread"] = True
            place = where(record, self.routing)
        if place.startswith("ignore"):
            log.debug("discord message %s skipped: %s", message.id, place)
            return
        payload = json.dumps(record, sort_keys=True).encode()
        # Durable and deduplicated on the message id: a gateway replay or RESUME re-sends the
        # same id and the core answers False, so nothing happens twice.
        await self.store(RawInbound(CHANNEL, str(message.id), payload))

    async def _names_a_ticket(self, thread: str) -> bool:
        if self.intake is None:
            return False
        return await self.intake.names_a_ticket(CHANNEL, thread)

    async def store(self, raw: RawInbound) -> bool:
        """Hand a payload to the core, retrying briefly: the gateway will not send it again.
        True when it is new, False when the core already had it."""
        assert self.intake is not None
        for attempt, delay in enumerate((*self.store_retry_delays, None)):
            try:
                return await self.intake.receive(raw)
            except Exception:
                if delay is None:
                    # Nothing else holds this message; say which one so it can be found.
                    log.exception("discord message %s LOST after %d attempts", raw.external_id,
                                  attempt + 1)  # fmt: skip
                    raise
                log.warning("storing discord message %s failed; retrying", raw.external_id)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def record_of(self, message: discord.Message) -> dict[str, Any]:
        """The minimal fields of a message that decode() needs, as a JSON-ready dict."""
        channel = message.channel
        kind, parent = "other", ""
        if isinstance(channel, discord.DMChannel):
            kind = "dm"
        elif isinstance(channel, discord.Thread):
            kind, parent = "thread", str(channel.parent_id)
        elif isinstance(channel, discord.TextChannel):
            kind = "text"
        elif isinstance(channel, discord.PartialMessageable) and message.guild is not None:
            kind, parent = await self._kind_of_uncached(channel.id)
        roles = getattr(message.author, "roles", [])
        reference = message.reference.message_id if message.reference else None
        return {
            "type": "message",
            "id": str(message.id),
            "channel_id": str(channel.id),
            "channel_kind": kind,
            "parent_id": parent,
            "guild_id": str(message.guild.id) if message.guild else "",
            "author": {
                "id": str(message.author.id),
                "name": message.author.display_name,
                "bot": message.author.bot,
            },
            "roles": [str(r.id) for r in roles if not r.is_default()],
            "content": self.readable(message),
            "message_type": message.type.value,
            "webhook_id": str(message.webhook_id or ""),
            "reference_id": str(reference or ""),
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type or "",
                    "size": a.size,
                    "url": a.url,
                }
                for a in message.attachments
            ],
            "created_at": message.created_at.isoformat(),
        }

    def readable(self, message: discord.Message) -> str:
        """Text as people saw it: <@id> mentions become @names; a leading @bot is dropped."""
        # clean_content also defuses @everyone with a zero-width space; we send with mentions
        # disabled anyway, and the space would end up in emails and Slack messages.
        text = message.clean_content.replace("@\u200b", "@")
        me = self.user
        if me is not None and message.content.startswith((f"<@{me.id}>", f"<@!{me.id}>")):
            shown = message.guild.me.display_name if message.guild and message.guild.me else me.name
            text = text.removeprefix(f"@{shown}").lstrip()
        return text

    async def _kind_of_uncached(self, channel_id: int) -> tuple[str, str]:
        # A thread we have not seen created (e.g. before a restart): ask Discord once what it is.
        if channel_id in self._looked_up:
            return self._looked_up[channel_id]
        try:
            channel = await self.fetch_channel(channel_id)
        except discord.HTTPException as exc:
            log.warning("cannot look up discord channel %s: %s", channel_id, exc)
            return "other", ""
        found = ("other", "")
        if isinstance(channel, discord.Thread):
            found = ("thread", str(channel.parent_id))
        elif isinstance(channel, discord.TextChannel):
            found = ("text", "")
        if len(self._looked_up) > 10_000:  # bounded: a cache, not a registry
            self._looked_up.clear()
        self._looked_up[channel_id] = found
        return found

    # -- interactions ------------------------------------------------------------------------
    async def answer(
        self, interaction: discord.Interaction[Any], work: Awaitable[CommandReply | str]
    ) -> None:
        """Answer ephemerally; defer first if the work is not done before `defer_after`."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=self.defer_after)
        deferred = task not in done
        if deferred:
            await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            result = await task
            text = result if isinstance(result, str) else result.text
        except Exception:
            log.exception("discord interaction %s failed", interaction.id)
            text = FAILED
        chunks = split_text(text) or ["Done."]
        if not deferred:
            await interaction.response.send_message(
                chunks[0], ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            chunks = chunks[1:]
        for chunk in chunks:
            await interaction.followup.send(chunk, ephemeral=True, allowed_mentions=NO_MENTIONS)

    def is_agent(self, user: discord.User | discord.Member) -> bool:
        """The core's one agent check, for what the bot shows before any command runs."""
        actor = actor_of(user)
        return authorise(self.settings, CHANNEL, actor.user_id, actor.roles) is not None

    async def refuse(self, interaction: discord.Interaction[Any]) -> None:
        """Tell someone who is not an agent, privately, that this is for agents."""
        metrics.turned_away(CHANNEL, "refused_not_agent")
        await interaction.response.send_message(
            refusal(CHANNEL, str(interaction.user.id)), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    async def run_command(self, interaction: discord.Interaction[Any], words: str) -> None:
        """Run command-grammar words as the interaction's user; the core decides who may."""
        if self.intake is None:
            await interaction.response.send_message(
                "Tidings is starting; try again.", ephemeral=True
            )
            return
        if not self.is_agent(interaction.user):
            metrics.turned_away(CHANNEL, "refused_not_agent")  # the core answers with its refusal
        await self.answer(interaction, self.intake.command(actor_of(interaction.user), words))

    async def rate(self, interaction: discord.Interaction[Any], ref: str, score: int) -> None:
        """A customer's rating button: recorded through the desk, answered only to them."""
        if self.intake is None:
            await interaction.response.send_message(
                "Tidings is starting; try again.", ephemeral=True
            )
            return
        await self.answer(interaction, self.intake.rate(actor_of(interaction.user), ref, score))

    async def submit_form(
        self, interaction: discord.Interaction[Any], answers: dict[str, str]
    ) -> None:
        """Store a `/ticket new` form; the ticket's acknowledgement arrives in the person's DMs."""
        await self.answer(interaction, self._store_form(interaction, answers))

    async def _store_form(
        self, interaction: discord.Interaction[Any], answers: dict[str, str]
    ) -> str:
        if self.intake is None:
            return "Tidings is starting; try again in a moment."
        dm = await interaction.user.create_dm()
        record = {
            "type": "form",
            "id": str(interaction.id),
            "author": {"id": str(interaction.user.id), "name": interaction.user.display_name},
            "roles": list(actor_of(interaction.user).roles),
            "dm_channel_id": str(dm.id),
            "fields": answers,
        }
        payload = json.dumps(record, sort_keys=True).encode()
        await self.store(RawInbound(CHANNEL, f"form:{interaction.id}", payload))
        return "Thanks, we have it. Your ticket number and our replies will come to your DMs."

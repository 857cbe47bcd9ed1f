"""The "Log as ticket" message command: an agent turns anyone's message into its author's ticket."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands

from channels.discord.translate import CHANNEL, decode_logged
from core import metrics
from core.channel import InboundMessage, RawInbound

if TYPE_CHECKING:
    from channels.discord.client import TidingsClient

LOG_AS_TICKET = "Log as ticket"
NOT_AGENT_TO_LOG = "Sorry, only agents can log a message as a ticket."
BY_A_BOT = "That message was written by a bot, so there is nobody to answer."
LOGGED = "Logged. The acknowledgement with the ticket number will appear in its thread."
ALREADY = "That message was already sent to Tidings."


def raw_key(message_id: int | str) -> str:
    """The inbox key of a logged message: one per message, however often it is logged."""
    return f"log:{message_id}"


async def log_as_ticket(interaction: discord.Interaction[Any], message: discord.Message) -> None:
    """Apps → Log as ticket on `message`: agents only; answered privately to the agent."""
    client = cast("TidingsClient", interaction.client)
    if not client.is_agent(interaction.user):
        metrics.turned_away(CHANNEL, "refused_not_agent")
        await interaction.response.send_message(
            NOT_AGENT_TO_LOG, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )
        return
    await client.answer(interaction, _store(client, interaction, message))


async def _store(
    client: TidingsClient, interaction: discord.Interaction[Any], message: discord.Message
) -> str:
    if client.intake is None:
        return "Tidings is starting; try again in a moment."
    if message.author.bot or message.webhook_id is not None:
        return BY_A_BOT
    record = await client.record_of(message)
    if message.guild is None:
        # A resolved message in a DM arrives with a partial channel: say what it is.
        record.update(channel_kind="dm", parent_id="")
    agent = interaction.user
    record.update(type="logged", agent={"id": str(agent.id), "name": agent.display_name})
    logged = decode_logged(record)
    if isinstance(logged, InboundMessage):
        # The ticket is answered in that thread: from now on its customer is heard there too.
        client.ticket_threads.add(logged.reply_target.thread)
    payload = json.dumps(record, sort_keys=True).encode()
    stored = await client.store(RawInbound(CHANNEL, raw_key(message.id), payload))
    return LOGGED if stored else ALREADY


def log_menu() -> app_commands.ContextMenu:
    """The menu entry, added to the client's command tree and synced with it."""
    return app_commands.ContextMenu(name=LOG_AS_TICKET, callback=log_as_ticket)

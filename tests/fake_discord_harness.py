"""Shared helpers for the Discord tests: a recording Intake and waiting for the bot to settle."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from channels.discord import DiscordChannel
from core.channel import Actor, CommandReply, RawInbound
from core.config import Settings, load_settings
from tests.fake_discord import FakeDiscord

BOT_TASK_PREFIXES = ("discord.py: on_", "CommandTree-invoker", "discord-ui-")


@dataclass
class RecordingIntake:
    """A stand-in for the core: stores payloads (deduplicated) and answers commands."""

    agents: set[str] = field(default_factory=set)
    stored: dict[tuple[str, str], bytes] = field(default_factory=dict)
    duplicates: int = 0
    commands: list[tuple[Actor, str]] = field(default_factory=list)
    tickets: list[tuple[str, str]] = field(default_factory=list)
    command_delay: float = 0.0
    failures: int = 0  # how many receive() calls fail first, like a database that is down
    ticket_keys: set[str] = field(default_factory=set)  # conversation keys that name a ticket
    key_lookups: list[str] = field(default_factory=list)

    async def receive(self, raw: RawInbound) -> bool:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database is restarting")
        key = (raw.channel, raw.external_id)
        if key in self.stored:
            self.duplicates += 1
            return False
        self.stored[key] = raw.payload
        return True

    async def command(self, actor: Actor, text: str) -> CommandReply:
        self.commands.append((actor, text))
        if self.command_delay:
            await asyncio.sleep(self.command_delay)
        if actor.user_id not in self.agents:
            return CommandReply(False, "Sorry, only agents can do that.")
        return CommandReply(True, f"OK: {text}")

    async def names_a_ticket(self, channel: str, key: str) -> bool:
        self.key_lookups.append(key)
        return key in self.ticket_keys

    async def search_tickets(self, text: str, limit: int = 25) -> list[tuple[str, str]]:
        wanted = text.lower()
        return [t for t in self.tickets if wanted in f"{t[0]} {t[1]}".lower()][:limit]

    async def search_incidents(self, text: str, limit: int = 25) -> list[tuple[str, str]]:
        return []


def discord_config(fake: FakeDiscord, **discord: Any) -> dict[str, Any]:
    """The [discord] section of a desk on the fake: #help is intake, #triage has the cards,
    the support role are agents."""
    return {
        "enabled": True,
        "token": "test-token",
        "api_url": fake.api_url,
        "gateway_url": fake.gateway_url,
        "guild": fake.guild.id,
        "intake_channels": [fake.guild.channels["help"]],
        "triage_channel": fake.guild.channels["triage"],
        "agent_roles": [fake.guild.roles["support"]],
        **discord,
    }


def discord_settings(fake: FakeDiscord, **discord: Any) -> Settings:
    config = discord_config(fake, **discord)
    return load_settings(None, discord=config, email={"enabled": False})


def fast_channel(settings: Settings, **kwargs: Any) -> DiscordChannel:
    """A channel that does not wait the production 2 s for guilds before it is ready."""
    options: dict[str, Any] = {"ready_timeout": 10.0, "guild_ready_timeout": 0.05}
    return DiscordChannel(settings, **(options | kwargs))


async def settle(fake: FakeDiscord, channel: DiscordChannel, within: float = 10.0) -> None:
    """Wait until the bot has read every gateway event and finished handling them."""
    await fake.sync()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    current = asyncio.current_task()
    while True:
        busy = [
            t
            for t in asyncio.all_tasks()
            if t is not current and not t.done() and t.get_name().startswith(BOT_TASK_PREFIXES)
        ]
        if not busy:
            break
        if loop.time() > deadline:
            raise AssertionError(f"the bot is still busy: {busy}")
        await asyncio.wait(busy, timeout=deadline - loop.time())
    assert channel.problem() is None, channel.problem()

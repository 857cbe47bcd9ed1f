"""On Discord: `/ticket search`, `replies`, a saved reply picked by autocomplete, and `same`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from channels.discord import DiscordChannel
from channels.discord.commands import TicketGroup
from core.clock import FakeClock
from tests.fake_channel import FakeChannel
from tests.fake_discord import FakeDiscord, InteractionRecord
from tests.fake_discord_harness import fast_channel, settle
from tests.fake_discord_payloads import FakeUser


@dataclass
class Desk:
    app: App
    fake: FakeDiscord
    bot: DiscordChannel
    email: FakeChannel
    alice: FakeUser  # a customer on Discord
    bob: FakeUser  # an agent by role
    mallory: FakeUser  # neither

    async def settle(self) -> None:
        await settle(self.fake, self.bot)
        await self.app.drain()
        await settle(self.fake, self.bot)

    async def ask(self, sub: str, **options: str) -> str:
        """Bob runs `/ticket <sub>` in the triage channel; what only he reads back."""
        answer = await self.fake.slash(
            self.bob, sub, channel_id=self.fake.guild.channels["triage"], **options
        )
        assert all(c["data"]["flags"] == 64 for c in answer.callbacks if "data" in c)
        return "\n".join(answer.texts())

    async def complete(self, person: FakeUser, **options: str) -> InteractionRecord:
        """`person` types in `/ticket reply`'s text box: what autocomplete offers."""
        triage = self.fake.guild.channels["triage"]
        return await self.fake.autocomplete(person, "reply", "text", channel_id=triage, **options)

    def dm(self, person: FakeUser) -> list[str]:
        return [m["content"] for m in self.fake.sent(self.fake.dm_channel(person)["id"])]


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Desk]:
    folder = tmp_path / "replies"
    folder.mkdir()
    (folder / "vpn-reset.j2").write_text("Hi {{ requester }}, please reset {{ ref }}'s profile.")
    (folder / "printer-tray.j2").write_text("Please swap the tray of {{ ref }}.")
    async with FakeDiscord() as fake:
        support = fake.guild.roles["support"]
        discord = {
            "enabled": True,
            "token": "test-token",
            "api_url": fake.api_url,
            "gateway_url": fake.gateway_url,
            "guild": fake.guild.id,
            "intake_channels": [fake.guild.channels["help"]],
            "triage_channel": fake.guild.channels["triage"],
            "agent_roles": [support],
        }
        settings = settings_factory(discord=discord, replies={"dir": str(folder)})
        bot = fast_channel(settings)
        email = FakeChannel(name="email")
        async with App(settings, clock=clock, channels=[bot, email], background=False) as app:
            people = {"alice": fake.user("alice"), "mallory": fake.user("mallory")}
            yield Desk(app, fake, bot, email, bob=fake.user("bob", roles=(support,)), **people)
        assert bot.connection is not None and bot.connection.exception() is None
        assert fake.unhandled == [] and fake.invalid == []


async def _two_tickets(desk: Desk) -> None:
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()
    await desk.email.say("alice@example.org", "The printer jams on A3", message_id="m1")
    await desk.settle()


async def test_an_agent_searches_and_lists_saved_replies(desk: Desk) -> None:
    await _two_tickets(desk)
    found = await desk.ask("search", words="vpn")
    assert found.startswith("T-1 [new] My VPN drops every 5 minutes — opened ")
    assert "T-2" not in found
    listed = await desk.ask("replies")
    assert "@printer-tray — Please swap the tray of {{ ref }}." in listed
    assert "@vpn-reset — Hi {{ requester }}" in listed


async def test_reply_text_starting_with_at_offers_saved_replies_and_sends_one(
    desk: Desk,
) -> None:
    await _two_tickets(desk)
    offered = await desk.complete(desk.bob, ticket="T-1", text="@vp")
    assert offered.choices() == [{"name": "@vpn-reset", "value": "@vpn-reset"}]
    every = await desk.complete(desk.bob, ticket="T-1", text="@")
    assert [c["value"] for c in every.choices()] == ["@printer-tray", "@vpn-reset"]
    written = await desk.complete(desk.bob, ticket="T-1", text="Try restarting")
    assert written.choices() == []  # written text is left alone
    peek = await desk.complete(desk.mallory, ticket="T-1", text="@")
    assert peek.choices() == []  # the names are for agents

    said = await desk.ask("reply", ticket="T-1", text="@vpn-reset")
    assert said == 'saved reply "vpn-reset" sent to T-1'
    await desk.settle()
    assert any("please reset T-1's profile." in text for text in desk.dm(desk.alice))
    missing = await desk.ask("reply", ticket="T-1", text="@nope")
    assert missing == 'there is no saved reply "nope"; saved replies: printer-tray, vpn-reset'


async def test_same_links_a_discord_and_an_email_requester(desk: Desk) -> None:
    await _two_tickets(desk)
    refused = await desk.ask("same", ticket="T-1", other="T-1")
    assert refused == "T-1 twice: `same` links the requesters of two different tickets"
    assert await desk.ask("same", ticket="T-1", other="T-7") == "there is no ticket T-7"

    linked = await desk.ask("same", ticket="T-1 My VPN drops", other="T-2 The printer jams")
    assert linked.startswith(f"T-1 and T-2 are from one person now (discord {desk.alice.id}, ")
    assert "also: email alice@example.org" in await desk.ask("show", ticket="T-1")
    again = await desk.ask("same", ticket="T-2", other="T-1")
    assert again == "T-2 and T-1 are already from one person; nothing changed"


def test_the_ticket_group_keeps_within_discords_25_subcommands() -> None:
    names = [command.name for command in TicketGroup().commands]
    assert {"search", "replies", "same"} <= set(names)
    assert len(names) <= 25

"""Satisfaction on Discord, with the real discord.Client and fake Discord: the resolution DM
has buttons 1–5; Alice's press is her rating, through the desk; a low one alerts the agents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import App
from core.channel import Channel
from core.clock import FakeClock
from tests.fake_channel import FakeChannel
from tests.fake_discord import FakeDiscord
from tests.fake_discord_harness import discord_config, fast_channel
from tests.test_discord_app import Desk


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Desk]:
    async with FakeDiscord() as fake:
        support = fake.guild.roles["support"]
        settings = settings_factory(discord=discord_config(fake))
        bot = fast_channel(settings)
        other = FakeChannel(name="email")
        channels: list[Channel] = [bot, other]
        async with App(settings, clock=clock, channels=channels, background=False) as app:
            bob = fake.user("bob", roles=(support,))
            alice, mallory = fake.user("alice"), fake.user("mallory")
            yield Desk(app, fake, bot, other, alice=alice, bob=bob, mallory=mallory)
        assert bot.connection is not None and bot.connection.exception() is None
        assert fake.unhandled == [] and fake.invalid == []


async def _resolved(desk: Desk) -> dict[str, Any]:
    """Alice reports by DM, an agent resolves; returns the resolution message she sees."""
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()
    assert (await desk.app.desk.run_as("alice", "resolve T-1 Rebooted the gateway.")).ok
    await desk.settle()
    resolution = desk.fake.sent(desk.fake.dm_channel(desk.alice)["id"])[-1]
    assert "Rebooted the gateway." in resolution["content"]
    buttons = [b["label"] for row in resolution["components"] for b in row["components"]]
    assert buttons == ["1", "2", "3", "4", "5"]
    return resolution


async def test_alices_press_is_her_one_rating(desk: Desk) -> None:
    resolution = await _resolved(desk)
    pressed = await desk.fake.click(desk.alice, resolution, "4")
    assert pressed.texts() == ["Thank you: T-1 rated 4 out of 5."]
    again = await desk.fake.click(desk.alice, resolution, "1")
    assert again.texts() == ["T-1 is already rated; one rating per ticket"]
    await desk.settle()

    ticket = await desk.ticket()
    assert ticket["status"] == "resolved"
    assert [e["text"] for e in ticket["events"] if e["kind"] == "csat"] == ["4"]


async def test_a_low_press_alerts_the_agents_in_the_cards_thread(desk: Desk) -> None:
    resolution = await _resolved(desk)
    pressed = await desk.fake.click(desk.alice, resolution, "2")
    assert pressed.texts() == ["Thank you: T-1 rated 2 out of 5."]
    await desk.settle()
    [card] = desk.cards()
    [alert] = [m["content"] for m in desk.fake.sent(card["id"]) if "Low rating" in m["content"]]
    assert "gave 2 out of 5" in alert


async def test_someone_else_cannot_rate_alices_ticket(desk: Desk) -> None:
    resolution = await _resolved(desk)
    pressed = await desk.fake.click(desk.mallory, resolution, "1")
    assert pressed.texts() == ["only the person who asked for T-1 can rate it"]
    assert "csat" not in [e["kind"] for e in (await desk.ticket())["events"]]

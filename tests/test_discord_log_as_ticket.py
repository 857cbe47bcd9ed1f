"""The Discord "Log as ticket" message command, with the real discord.Client and fake Discord:
Bob (an agent) turns Alice's message in an ordinary channel into Alice's ticket, acknowledged
in the message's thread; Mallory (not an agent) is refused and nothing changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import App
from channels.discord.log_menu import ALREADY, LOG_AS_TICKET, LOGGED, NOT_AGENT_TO_LOG
from core.channel import Channel
from core.clock import FakeClock
from core.storage.models import InboxRow
from tests.fake_channel import FakeChannel
from tests.fake_discord import FakeDiscord
from tests.fake_discord_harness import discord_config, fast_channel
from tests.test_discord_app import Desk


@asynccontextmanager
async def discord_desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Desk]:
    """Bob (support role) and Alice and Mallory on the fake Discord, and an email channel."""
    async with FakeDiscord() as fake:
        support = fake.guild.roles["support"]
        settings = settings_factory(discord=discord_config(fake))
        bot = fast_channel(settings)
        channels: list[Channel] = [bot, FakeChannel(name="email")]
        async with App(settings, clock=clock, channels=channels, background=False) as app:
            bob = fake.user("bob", roles=(support,))
            alice, mallory = fake.user("alice"), fake.user("mallory")
            yield Desk(app, fake, bot, channels[1], alice=alice, bob=bob, mallory=mallory)
        assert bot.connection is not None and bot.connection.exception() is None
        assert fake.unhandled == [] and fake.invalid == []


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Desk]:
    async with discord_desk(settings_factory, clock) as running:
        yield running


async def inbox_size(app: App) -> int:
    async with app.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(InboxRow)) or 0)


async def test_the_menu_is_synced_as_a_message_command(desk: Desk) -> None:
    synced = desk.fake.commands[desk.fake.guild.id]
    [menu] = [c for c in synced if c.get("type") == 3]
    assert menu["name"] == LOG_AS_TICKET and not menu.get("description")


async def test_bob_logs_alices_message_as_her_ticket_acknowledged_in_its_thread(
    desk: Desk,
) -> None:
    random = desk.fake.guild.channels["random"]
    said = await desk.fake.say(desk.alice, random, "The 3rd floor printer jams on every page")
    await desk.settle()
    assert await desk.app.list_tickets() == [], "an ordinary channel is not intake"

    used = await desk.fake.use_on_message(desk.bob, said, LOG_AS_TICKET)
    assert used.texts() == [LOGGED]
    assert used.callbacks[0]["data"]["flags"] & 64, "only Bob sees the answer"
    await desk.settle()

    [ticket] = await desk.app.list_tickets()
    assert ticket["requester"]["address"] == desk.alice.id, "the author, not the agent"
    assert ticket["subject"] == "The 3rd floor printer jams on every page"
    assert ticket["reply_target"] == {"channel": "discord", "address": random,
                                      "thread": said["id"]}  # fmt: skip
    [ack] = desk.fake.sent(said["id"])  # the thread started on Alice's message
    assert "T-1" in ack["content"]
    assert desk.fake.sent(random) == [], "nothing in the channel itself"
    shown = await desk.ticket()
    logged = f"Logged as a ticket from a message in <#{random}> by Bob."
    assert any(e["text"] == logged for e in shown["events"]), "agents see who logged it"

    again = await desk.fake.use_on_message(desk.bob, said, LOG_AS_TICKET)
    assert again.texts() == [ALREADY]
    await desk.settle()
    assert len(await desk.app.list_tickets()) == 1
    assert len(desk.fake.sent(said["id"])) == 1, "one acknowledgement"


async def test_a_message_in_a_thread_is_answered_in_that_thread(desk: Desk) -> None:
    random = desk.fake.guild.channels["random"]
    root = await desk.fake.say(desk.mallory, random, "Anyone else without Wi-Fi?")
    thread = await desk.fake.start_thread(desk.mallory, root, "Wi-Fi")
    said = await desk.fake.say(desk.alice, thread, "Same here since 9:00, 2nd floor")
    other = await desk.fake.say(desk.alice, thread, "and the VPN is down too")
    await desk.settle()

    assert (await desk.fake.use_on_message(desk.bob, said, LOG_AS_TICKET)).texts() == [LOGGED]
    await desk.settle()
    # Another message of the same thread: the thread is the conversation, so it joins T-1.
    assert (await desk.fake.use_on_message(desk.bob, other, LOG_AS_TICKET)).texts() == [LOGGED]
    await desk.settle()

    [ticket] = await desk.app.list_tickets()
    assert ticket["requester"]["address"] == desk.alice.id
    assert ticket["reply_target"] == {"channel": "discord", "address": random, "thread": thread}
    [ack] = desk.fake.sent(thread)
    assert "T-1" in ack["content"]
    shown = await desk.ticket()
    assert any(e["text"] == "and the VPN is down too" for e in shown["events"])


async def test_mallory_is_refused_privately_and_nothing_changes(desk: Desk) -> None:
    random = desk.fake.guild.channels["random"]
    said = await desk.fake.say(desk.alice, random, "my screen flickers since the update")
    await desk.settle()
    used = await desk.fake.use_on_message(desk.mallory, said, LOG_AS_TICKET)
    assert used.texts() == [NOT_AGENT_TO_LOG]
    assert used.callbacks[0]["data"]["flags"] & 64
    await desk.settle()
    assert await inbox_size(desk.app) == 0
    assert await desk.app.list_tickets() == []
    assert desk.fake.sent(random) == [] and desk.fake.sent(said["id"]) == []


async def test_the_bots_own_message_cannot_be_logged(desk: Desk) -> None:
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()
    [card] = desk.cards()
    used = await desk.fake.use_on_message(desk.bob, card, LOG_AS_TICKET)
    assert used.texts() == ["That message was written by a bot, so there is nobody to answer."]
    await desk.settle()
    assert len(await desk.app.list_tickets()) == 1

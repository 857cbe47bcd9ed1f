"""Files both ways on Discord: customers' files kept before their links expire, agents' files
from a card thread delivered as files on the customer's message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from core.clock import FakeClock
from tests.fake_channel import FakeChannel
from tests.fake_discord import FakeDiscord
from tests.fake_discord_harness import discord_config, fast_channel
from tests.test_discord_app import Desk

LOG = b"2026-11-23 09:00:01 vpn: tunnel reset by peer\n" * 50
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def kept_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


@asynccontextmanager
async def discord_desk(
    settings_factory: Any, clock: FakeClock, **intake: Any
) -> AsyncIterator[Desk]:
    """A desk on Discord (the fake) and a second channel, with `[intake]` settings."""
    async with FakeDiscord() as fake:
        support = fake.guild.roles["support"]
        settings = settings_factory(
            discord=discord_config(fake),
            intake=intake,
        )  # fmt: skip
        bot, email = fast_channel(settings), FakeChannel(name="email")
        async with App(settings, clock=clock, channels=[bot, email], background=False) as app:
            people = {"alice": fake.user("alice"), "bob": fake.user("bob", roles=(support,))}
            yield Desk(app, fake, bot, email, mallory=fake.user("mallory"), **people)
        assert fake.unhandled == [] and fake.invalid == []


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Desk]:
    async with discord_desk(settings_factory, clock) as opened:
        yield opened


@pytest.fixture
async def small_desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Desk]:
    async with discord_desk(settings_factory, clock, max_attachment_bytes=100) as opened:
        yield opened


async def test_a_customers_file_is_fetched_before_its_link_expires_and_kept(desk: Desk) -> None:
    log = desk.fake.attachment("vpn.log", LOG, "text/plain")
    await desk.fake.dm(desk.alice, "The VPN log from this morning", attachments=[log])
    await desk.settle()
    desk.fake.files.clear()  # the link expires: Tidings has its own copy

    ticket = await desk.ticket()
    [kept] = ticket["attachments"]
    assert (kept["name"], kept["size"]) == ("vpn.log", len(LOG))
    assert kept_bytes(kept["stored_at"]) == LOG
    assert "T-1" in desk.dm(desk.alice)[0]


async def test_a_file_whose_link_already_expired_is_named_in_a_note(desk: Desk) -> None:
    log = desk.fake.attachment("vpn.log", LOG, "text/plain")
    desk.fake.files.clear()
    await desk.fake.dm(desk.alice, "The VPN log from this morning", attachments=[log])
    await desk.settle()

    ticket = await desk.ticket()
    [note] = [e for e in ticket["events"] if e["kind"] == "note"]
    assert note["visibility"] == "internal"
    assert "'vpn.log' was not kept: the download failed" in note["text"]
    assert "HTTP 404" in note["text"]
    assert ticket["attachments"][0]["stored_at"] == ""
    assert "T-1" in desk.dm(desk.alice)[0]  # her message still made a ticket, acknowledged


async def test_an_agents_file_in_the_card_thread_reaches_a_discord_customer(desk: Desk) -> None:
    await desk.fake.dm(desk.alice, "Which client version should I install?")
    await desk.settle()
    [card] = desk.cards()
    shot = desk.fake.attachment("settings.png", SCREENSHOT, "image/png")
    await desk.fake.say(desk.bob, card["id"], "Use these settings", attachments=[shot])
    await desk.settle()

    dm = desk.fake.dm_channel(desk.alice)["id"]
    _ack, reply = desk.fake.sent(dm)
    assert "Use these settings" in reply["content"]
    [sent] = reply["attachments"]
    assert sent["filename"] == "settings.png"
    assert desk.fake.files[sent["id"]] == SCREENSHOT


async def test_an_agents_file_over_the_limit_is_named_to_the_agents_and_the_text_goes(
    small_desk: Desk,
) -> None:
    desk = small_desk
    await desk.fake.dm(desk.alice, "Which client version should I install?")
    await desk.settle()
    [card] = desk.cards()
    before = await desk.ticket()
    shot = desk.fake.attachment("settings.png", SCREENSHOT, "image/png")
    await desk.fake.say(desk.bob, card["id"], "Use these settings", attachments=[shot])
    await desk.settle()

    dm = desk.fake.dm_channel(desk.alice)["id"]
    _ack, reply = desk.fake.sent(dm)
    assert "Use these settings" in reply["content"] and reply["attachments"] == []
    [told] = [m["content"] for m in desk.fake.sent(card["id"])]
    assert '"settings.png" was not sent to the customer' in told
    assert "larger than the 100 bytes limit" in told
    after = await desk.ticket()
    assert [e["kind"] for e in after["events"][len(before["events"]) :]] == ["agent_reply"]
    assert after["attachments"] == []

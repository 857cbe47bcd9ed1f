"""The real discord.Client against the fake Discord, with a recording stand-in for the core."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from channels.discord import DiscordChannel
from tests.fake_discord import FakeDiscord
from tests.fake_discord_harness import RecordingIntake, discord_settings, fast_channel, settle


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def intake() -> RecordingIntake:
    return RecordingIntake()


@pytest.fixture
async def bot(fake: FakeDiscord, intake: RecordingIntake) -> AsyncIterator[DiscordChannel]:
    channel = fast_channel(discord_settings(fake))
    await channel.start(intake)
    yield channel
    await channel.stop()
    assert fake.unhandled == []


async def test_dm_is_stored_with_the_fields_decode_needs(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel
) -> None:
    alice = fake.user("alice")
    sent = await fake.dm(alice, "My VPN drops every 5 minutes")
    await settle(fake, bot)
    record = json.loads(intake.stored[("discord", sent["id"])])
    assert record["content"] == "My VPN drops every 5 minutes"
    assert record["channel_kind"] == "dm"

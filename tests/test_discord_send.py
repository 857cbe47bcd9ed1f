"""Sending through the fake Discord: splitting, mentions, threads, and how failures are reported."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from channels.discord import DiscordChannel
from core.channel import Audience, DeliveryError, OutboundMessage, ReplyTarget
from core.config import ConfigError, IntakeConfig
from tests.fake_discord import FakeDiscord
from tests.fake_discord_harness import RecordingIntake, discord_settings, fast_channel


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[DiscordChannel]:
    channel = fast_channel(discord_settings(fake))
    await channel.start(RecordingIntake())
    yield channel
    await channel.stop()
    assert channel.connection is not None and channel.connection.exception() is None
    assert fake.unhandled == [] and fake.invalid == []


def reply(text: str, **fields: Any) -> OutboundMessage:
    base: dict[str, Any] = {
        "ticket_ref": "T-3",
        "subject": "Printer jams",
        "text": text,
        "kind": "agent_reply",
        "automatic": False,
        "token": "tok-3",
    }
    return OutboundMessage(**(base | fields))


def dm_target(fake: FakeDiscord, name: str = "alice") -> ReplyTarget:
    person = fake.user(name)
    return ReplyTarget("discord", fake.dm_channel(person)["id"], "")


async def test_a_2500_character_reply_arrives_as_two_messages(
    fake: FakeDiscord, bot: DiscordChannel
) -> None:
    target = dm_target(fake)
    paragraph = "We replaced the fuser unit and ran a test page. " * 10  # 480 characters
    text = "\n".join([paragraph.strip()] * 5) + "\n" + "The ticket stays open until you confirm."
    assert 2400 < len(text) < 2600
    result = await bot.send(target, reply(text))
    sent = fake.sent(target.address)
    assert len(sent) == 2 and all(len(m["content"]) <= 2000 for m in sent)
    assert "\n".join(m["content"] for m in sent) == text
    assert result.external_id == sent[0]["id"]
    assert result.thread_keys == (sent[1]["id"], f"dm:{target.address}")


async def test_everyone_in_customer_text_never_pings(
    fake: FakeDiscord, bot: DiscordChannel
) -> None:
    target = ReplyTarget("discord", fake.guild.channels["help"], "")
    await bot.send(target, reply("@everyone the printer is <@&123> broken @here"))
    [request] = fake.posts()
    assert request.json["allowed_mentions"] == {"parse": []}
    assert request.json["content"] == "@everyone the printer is <@&123> broken @here"


async def test_first_reply_in_an_intake_channel_creates_the_thread_once(
    fake: FakeDiscord, bot: DiscordChannel
) -> None:
    alice = fake.user("alice")
    help_channel = fake.guild.channels["help"]
    root = await fake.say(alice, help_channel, "Printer jams")
    target = ReplyTarget("discord", help_channel, root["id"])
    await bot.send(target, reply("Logged as T-3", kind="ack"))
    await bot.send(target, reply("A technician is on the way"))
    assert len(fake.posts(contains="/threads")) == 1
    assert fake.channels[root["id"]]["name"] == "T-3 Printer jams"
    contents = [m["content"] for m in fake.sent(root["id"])]
    assert contents == ["Logged as T-3", "A technician is on the way"]

    restarted = fast_channel(discord_settings(fake))  # knows nothing about existing threads
    await restarted.start(RecordingIntake())
    try:
        await restarted.send(target, reply("Fixed"))
    finally:
        await restarted.stop()
    assert [r.status for r in fake.posts(contains="/threads")] == [201, 400]  # 160004: exists
    assert fake.sent(root["id"])[-1]["content"] == "Fixed"


async def test_closed_dms_are_a_permanent_failure(fake: FakeDiscord, bot: DiscordChannel) -> None:
    person = fake.user("dana")
    fake.dm_closed.add(person.id)
    target = ReplyTarget("discord", fake.dm_channel(person)["id"], "")
    with pytest.raises(DeliveryError) as failure:
        await bot.send(target, reply("Your ticket T-3 is logged", kind="ack"))
    assert failure.value.permanent and "DMs closed" in failure.value.reason


async def test_a_short_rate_limit_is_waited_out_by_discord_py(
    fake: FakeDiscord, bot: DiscordChannel
) -> None:
    target = dm_target(fake)
    fake.rate_limit_next("POST", r"/channels/\d+/messages$", retry_after=0.05)
    await bot.send(target, reply("Update: the vendor replied"))
    assert [r.status for r in fake.posts()] == [429, 200]
    assert [m["content"] for m in fake.sent(target.address)] == ["Update: the vendor replied"]


async def test_a_long_rate_limit_goes_back_to_the_outbox_with_retry_after(
    fake: FakeDiscord, bot: DiscordChannel
) -> None:
    fake.rate_limit_next("POST", r"/channels/\d+/messages$", retry_after=90.0)
    with pytest.raises(DeliveryError) as failure:
        await bot.send(dm_target(fake), reply("Update"))
    assert not failure.value.permanent and failure.value.retry_after == 90.0


async def test_server_errors_are_temporary(fake: FakeDiscord, bot: DiscordChannel) -> None:
    fake.fail_next("POST", r"/messages$", 503, {"message": "upstream overloaded", "code": 0})
    with pytest.raises(DeliveryError) as failure:
        await bot.send(dm_target(fake), reply("Update"))
    assert not failure.value.permanent and failure.value.retry_after is None


async def test_the_fake_enforces_the_2000_character_limit(
    fake: FakeDiscord, bot: DiscordChannel
) -> None:
    assert bot.client is not None
    channel = bot.client.get_partial_messageable(int(dm_target(fake).address))
    with pytest.raises(discord.HTTPException) as failure:
        await channel.send("x" * 2001)
    assert failure.value.code == 50035
    assert fake.invalid == ["content: length 2001 not in 0..2000"]
    fake.invalid.clear()  # seen; the fixture checks that nothing else was refused


async def test_agent_nudges_go_to_the_card_thread(fake: FakeDiscord, bot: DiscordChannel) -> None:
    triage = fake.guild.channels["triage"]
    from tests.test_discord_interactions import card_message

    posted = await bot.send(ReplyTarget("discord", triage, ""), card_message())
    nudge = reply("Update due in 15 min", kind="nudge", audience=Audience.AGENTS, automatic=True)
    result = await bot.send(ReplyTarget("discord", triage, posted.external_id), nudge)
    assert [m["content"] for m in fake.sent(posted.external_id)] == ["Update due in 15 min"]
    assert result.thread_keys == ()  # not a DM: no dm key for agents' messages
    assert len(fake.posts(contains="/threads")) == 1  # made with the card, not again


async def test_a_dead_gateway_connection_shows_in_problem(fake: FakeDiscord) -> None:
    channel = fast_channel(discord_settings(fake))
    await channel.start(RecordingIntake())
    try:
        await fake.close_sockets(code=4004)  # "Authentication failed": discord.py gives up
        assert channel.connection is not None
        await asyncio.wait({channel.connection}, timeout=10)
        problem = channel.problem()
        assert problem is not None and "gateway connection ended" in problem
    finally:
        await channel.stop()


async def test_a_refused_token_is_a_clear_error(fake: FakeDiscord) -> None:
    fake.fail_next("GET", r"^/users/@me$", 401, {"message": "401: Unauthorized", "code": 0})
    channel = fast_channel(discord_settings(fake))
    with pytest.raises(ConfigError, match=r"discord\.token was refused"):
        await channel.start(RecordingIntake())
    assert channel.problem() is not None


@pytest.mark.parametrize(
    ("key", "value"),
    [("guild", "Acme HQ"), ("triage_channel", "#triage"), ("intake_channels", ["help"])],
)
def test_ids_that_are_not_numbers_are_a_clear_config_error(
    fake: FakeDiscord, key: str, value: object
) -> None:
    with pytest.raises(ConfigError, match=f"discord.{key}"):
        fast_channel(discord_settings(fake, **{key: value}))


def test_more_intake_fields_than_a_discord_modal_holds_is_a_config_error(fake: FakeDiscord) -> None:
    settings = discord_settings(fake)
    fields = [{"name": f"f{n}", "label": f"Field {n}"} for n in range(6)]
    settings = settings.model_copy(update={"intake": IntakeConfig(fields=fields)})
    with pytest.raises(ConfigError, match="at most 5 fields"):
        fast_channel(settings)

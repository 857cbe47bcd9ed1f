"""The real discord.Client against the fake Discord, with a recording stand-in for the core."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from channels.discord import DiscordChannel
from core.channel import AgentMessage, Channel, InboundMessage, ReplyTarget
from tests.fake_discord import FakeDiscord
from tests.fake_discord_harness import RecordingIntake, discord_settings, fast_channel, settle
from tests.fake_discord_payloads import attachment_payload

EPHEMERAL = 64


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
def intake() -> RecordingIntake:
    return RecordingIntake()


@pytest.fixture
async def bot(fake: FakeDiscord, intake: RecordingIntake) -> AsyncIterator[DiscordChannel]:
    channel = fast_channel(discord_settings(fake))
    await channel.start(intake)
    yield channel
    await channel.stop()
    assert channel.connection is not None and channel.connection.done()
    assert channel.connection.exception() is None
    assert fake.unhandled == [] and fake.invalid == []


def stored(intake: RecordingIntake, bot: DiscordChannel, message_id: str) -> Any:
    return bot.decode(intake.stored[("discord", message_id)])


async def test_start_identifies_with_the_intents_it_needs_and_syncs_to_the_guild(
    fake: FakeDiscord, bot: DiscordChannel
) -> None:
    intents = discord.Intents._from_value(fake.identify["intents"])
    assert intents.message_content and intents.dm_messages and intents.guild_messages
    assert not intents.members and not intents.presences  # privileged, not needed
    synced = {(c["name"], c.get("type", 1)): c for c in fake.commands[fake.guild.id]}
    assert set(synced) == {("ticket", 1), ("Log as ticket", 3)}  # /ticket and the message menu
    ticket = synced["ticket", 1]
    assert "global" not in fake.commands
    subcommands = {option["name"] for option in ticket["options"]}
    assert subcommands == {
        "new", "reply", "note", "eta", "wait", "resolve", "close", "reopen",
        "take", "assign", "priority", "show", "list", "search", "replies", "same",
        "incident", "link", "unlink", "similar",
    }  # fmt: skip
    assert len(subcommands) <= 25  # Discord's limit for one command group
    assert bot.problem() is None
    assert isinstance(bot, Channel)


async def test_dm_is_stored_and_decodes_to_a_message_answered_in_the_dm(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel
) -> None:
    alice = fake.user("alice")
    sent = await fake.dm(alice, "My VPN drops every 5 minutes")
    await settle(fake, bot)
    message = stored(intake, bot, sent["id"])
    assert isinstance(message, InboundMessage)
    assert message.text == "My VPN drops every 5 minutes"
    assert message.reply_target == ReplyTarget("discord", sent["channel_id"], "")
    assert message.thread_keys == (f"dm:{sent['channel_id']}",)


async def test_intake_channel_message_with_attachment_and_its_thread_reply(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel
) -> None:
    alice = fake.user("alice")
    help_channel = fake.guild.channels["help"]
    shot = attachment_payload("error.png", "image/png", 48213)
    root = await fake.say(alice, help_channel, "Printer on floor 3 jams", attachments=[shot])
    # The bot answers: that creates the thread on Alice's message (thread id == message id).
    await bot.send(
        ReplyTarget("discord", help_channel, root["id"]), outbound("We have it: T-1", kind="ack")
    )
    reply = await fake.say(alice, root["id"], "It jams on A3 paper only")
    await settle(fake, bot)

    first = stored(intake, bot, root["id"])
    assert isinstance(first, InboundMessage)
    assert first.reply_target == ReplyTarget("discord", help_channel, root["id"])
    assert [a.name for a in first.attachments] == ["error.png"]
    second = stored(intake, bot, reply["id"])
    assert isinstance(second, InboundMessage)
    assert second.thread_keys == (root["id"],)
    assert [m["content"] for m in fake.sent(root["id"])] == ["We have it: T-1"]


async def test_agent_in_a_card_thread_is_an_agent_message(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel
) -> None:
    bob = fake.user("bob", roles=(fake.guild.roles["support"],))
    triage = fake.guild.channels["triage"]
    from tests.test_discord_translate import card

    result = await bot.send(
        ReplyTarget("discord", triage, ""), outbound("", kind="card", card=card())
    )
    said = await fake.say(bob, result.external_id, "note: called the vendor")
    await settle(fake, bot)
    message = stored(intake, bot, said["id"])
    assert isinstance(message, AgentMessage)
    assert message.thread_keys == (result.external_id,)
    assert message.actor.roles == (fake.guild.roles["support"],)


async def test_bots_system_messages_and_other_channels_are_never_stored(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel
) -> None:
    alice = fake.user("alice")
    await fake.say(alice, fake.guild.channels["random"], "lunch?")
    await fake.say(alice, fake.guild.channels["help"], "", message_type=7)  # "alice joined"
    await bot.send(ReplyTarget("discord", fake.guild.channels["help"], ""), outbound("hello"))
    await settle(fake, bot)
    assert intake.stored == {}


async def test_replayed_message_create_after_resume_is_stored_once(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel
) -> None:
    alice = fake.user("alice")
    before = fake.seq()
    await fake.dm(alice, "Outlook keeps asking for my password")
    await settle(fake, bot)
    await fake.drop(replay_from=before)  # the gateway delivers the event a second time
    await settle(fake, bot)
    assert fake.resumes == 1
    assert len(intake.stored) == 1 and intake.duplicates == 1


def outbound(text: str, **fields: Any) -> Any:
    from core.channel import OutboundMessage

    base: dict[str, Any] = {
        "ticket_ref": "T-1",
        "subject": "Printer jams",
        "text": text,
        "kind": "agent_reply",
        "automatic": False,
        "token": "tok-1",
    }
    return OutboundMessage(**(base | fields))


async def test_without_a_guild_commands_are_synced_globally(
    fake: FakeDiscord, intake: RecordingIntake
) -> None:
    channel = fast_channel(discord_settings(fake, guild="", application_id=fake.application_id))
    await channel.start(intake)
    try:
        assert list(fake.commands) == ["global"]
        alice = fake.user("alice")
        opened = await fake.slash(alice, "new")  # in a DM, where only global commands exist
        assert opened.modal() is not None
    finally:
        await channel.stop()


async def test_a_message_is_stored_even_when_the_first_attempts_fail(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel
) -> None:
    assert bot.client is not None
    bot.client.store_retry_delays = (0.01, 0.01, 0.01)
    intake.failures = 2
    alice = fake.user("alice")
    sent = await fake.dm(alice, "Laptop will not boot")
    await settle(fake, bot)
    assert ("discord", sent["id"]) in intake.stored


async def test_start_returns_when_discord_is_slow_and_syncs_once_ready(
    fake: FakeDiscord, intake: RecordingIntake
) -> None:
    # Ready comes guild_ready_timeout after the last guild, longer than start() waits.
    channel = fast_channel(discord_settings(fake), ready_timeout=0.01, guild_ready_timeout=0.5)
    await channel.start(intake)
    try:
        assert channel.problem() == "discord: not connected to the gateway (reconnecting)"
        assert channel.client is not None
        await asyncio.wait_for(channel.client.wait_until_ready(), 10)
        await settle(fake, channel)
        for _ in range(100):
            if fake.commands:
                break
            await asyncio.sleep(0.02)
        assert list(fake.commands) == [fake.guild.id]
        assert channel.problem() is None
    finally:
        await channel.stop()


async def test_after_a_restart_threads_are_known_again_even_archived_ones(
    fake: FakeDiscord, intake: RecordingIntake
) -> None:
    alice = fake.user("alice")
    help_channel = fake.guild.channels["help"]
    first = fast_channel(discord_settings(fake))
    await first.start(intake)
    roots = [await fake.say(alice, help_channel, f"Problem {n}") for n in (1, 2)]
    for root in roots:
        await first.send(ReplyTarget("discord", help_channel, root["id"]), outbound("Logged"))
    await first.stop()
    fake.channels[roots[1]["id"]]["thread_metadata"]["archived"] = True  # not in GUILD_CREATE

    second = fast_channel(discord_settings(fake))
    await second.start(intake)
    try:
        said = [await fake.say(alice, root["id"], "Any news?") for root in roots]
        await settle(fake, second)
    finally:
        await second.stop()
    for root, message in zip(roots, said, strict=True):
        decoded = second.decode(intake.stored[("discord", message["id"])])
        assert isinstance(decoded, InboundMessage) and decoded.thread_keys == (root["id"],)
    assert [r.path for r in fake.requests if r.method == "GET" and "/channels/" in r.path] == [
        f"/channels/{roots[1]['id']}"
    ]  # only the archived thread had to be looked up


async def test_mentions_are_stored_as_people_read_them(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel
) -> None:
    alice, bob = fake.user("alice"), fake.user("bob")
    text = f"<@{fake.bot.id}> printer jams, @everyone is stuck; <@{bob.id}> saw it too"
    sent = await fake.say(alice, fake.guild.channels["help"], text, mentions=(fake.bot, bob))
    await settle(fake, bot)
    message = stored(intake, bot, sent["id"])
    assert isinstance(message, InboundMessage)
    assert message.text == "printer jams, @everyone is stuck; @Bob saw it too"

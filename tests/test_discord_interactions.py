"""Slash commands, autocomplete, modals and card buttons, through the fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from channels.discord import DiscordChannel
from core.channel import InboundMessage, OutboundMessage, ReplyTarget
from tests.fake_discord import FakeDiscord
from tests.fake_discord_harness import RecordingIntake, discord_settings, fast_channel, settle
from tests.fake_discord_payloads import FakeUser
from tests.test_discord_translate import card

EPHEMERAL = 64


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
def bob(fake: FakeDiscord) -> FakeUser:
    return fake.user("bob", roles=(fake.guild.roles["support"],))


@pytest.fixture
def intake(bob: FakeUser) -> RecordingIntake:
    return RecordingIntake(agents={bob.id}, tickets=[("T-1", "VPN drops"), ("T-2", "Printer jams")])


@pytest.fixture
async def bot(fake: FakeDiscord, intake: RecordingIntake) -> AsyncIterator[DiscordChannel]:
    channel = fast_channel(discord_settings(fake), defer_after=0.5)
    await channel.start(intake)
    yield channel
    await channel.stop()
    assert channel.connection is not None and channel.connection.exception() is None
    assert fake.unhandled == [] and fake.invalid == []


async def test_agent_sets_an_eta_and_only_they_see_the_answer(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel, bob: FakeUser
) -> None:
    triage = fake.guild.channels["triage"]
    answer = await fake.slash(bob, "eta", channel_id=triage, ticket="T-1", when="tomorrow 10:00")
    [(actor, words)] = intake.commands
    assert words == "eta T-1 tomorrow 10:00"
    assert actor.user_id == bob.id and actor.roles == (fake.guild.roles["support"],)
    [callback] = answer.callbacks
    assert callback["type"] == 4 and callback["data"]["flags"] == EPHEMERAL
    assert callback["data"]["allowed_mentions"] == {"parse": []}
    assert answer.texts() == ["OK: eta T-1 tomorrow 10:00"]


async def test_non_agent_is_refused_politely_and_privately(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel
) -> None:
    mallory = fake.user("mallory")
    answer = await fake.slash(
        mallory, "resolve", channel_id=fake.guild.channels["help"], ticket="1"
    )
    assert answer.texts() == ["Sorry, only agents can do that."]
    assert answer.callbacks[0]["data"]["flags"] == EPHEMERAL


async def test_slow_command_is_deferred_then_answered_by_follow_up(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel, bob: FakeUser
) -> None:
    intake.command_delay = 1.0  # longer than the channel's defer_after
    answer = await fake.slash(bob, "list", channel_id=fake.guild.channels["triage"], filter="mine")
    [callback] = answer.callbacks
    assert callback["type"] == 5 and callback["data"]["flags"] == EPHEMERAL
    [followup] = answer.followups
    assert followup["content"] == "OK: list mine" and followup["flags"] == EPHEMERAL


async def test_the_fake_rejects_answers_after_the_interaction_deadline(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel, bob: FakeUser
) -> None:
    fake.interaction_deadline = 0.1  # Discord's 3 s, shortened so the test is quick
    intake.command_delay = 0.3  # still under defer_after, so the bot answers late
    answer = await fake.slash(bob, "take", channel_id=fake.guild.channels["triage"], ticket="T-2")
    assert answer.rejected == ["answered after 3 s"] and answer.callbacks == []


async def test_ticket_autocomplete_offers_matching_active_tickets(
    fake: FakeDiscord, bot: DiscordChannel, bob: FakeUser
) -> None:
    triage = fake.guild.channels["triage"]
    answer = await fake.autocomplete(bob, "take", "ticket", channel_id=triage, ticket="print")
    assert answer.choices() == [{"name": "T-2 Printer jams", "value": "T-2"}]


async def test_autocomplete_shows_tickets_and_agents_to_agents_only(
    fake: FakeDiscord, bot: DiscordChannel, bob: FakeUser
) -> None:
    mallory = fake.user("mallory")
    help_channel = fake.guild.channels["help"]
    peek = await fake.autocomplete(mallory, "take", "ticket", channel_id=help_channel, ticket="")
    assert peek.choices() == []  # no refs, no subjects of other people's tickets
    names = await fake.autocomplete(
        mallory, "assign", "agent", channel_id=help_channel, ticket="T-1", agent=""
    )
    assert names.choices() == []
    agent = await fake.autocomplete(bob, "take", "ticket", channel_id=help_channel, ticket="")
    assert [c["value"] for c in agent.choices()] == ["T-1", "T-2"]


async def test_a_non_agent_pressing_a_card_button_gets_no_form_and_changes_nothing(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel
) -> None:
    triage = fake.guild.channels["triage"]
    posted = await bot.send(ReplyTarget("discord", triage, ""), card_message())
    mallory = fake.user("mallory")
    pressed = await fake.click(mallory, fake.messages[posted.external_id], "Set ETA")
    assert pressed.modal() is None
    [text] = pressed.texts()
    assert "not set up as an agent" in text
    assert pressed.callbacks[0]["data"]["flags"] == EPHEMERAL
    assert intake.commands == []


async def test_ticket_new_opens_the_intake_modal_and_the_answers_are_stored(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel
) -> None:
    alice = fake.user("alice")
    opened = await fake.slash(alice, "new", channel_id=fake.guild.channels["help"])
    modal = opened.modal()
    assert modal is not None and modal["title"] == "Report a problem"
    labels = [row["label"] for row in modal["components"]]
    assert labels == [
        "What is wrong?",
        "How much does it block you?",
        "Since when, and what is affected?",
    ]
    submitted = await fake.submit(
        alice, opened, {"what": "Payroll export fails at 50%", "impact": "I can't work"}
    )
    assert submitted.texts() == [
        "Thanks, we have it. Your ticket number and our replies will come to your DMs."
    ]
    [payload] = intake.stored.values()
    message = bot.decode(payload)
    assert isinstance(message, InboundMessage)
    assert message.reply_target == ReplyTarget("discord", fake.dm_channel(alice)["id"], "")
    assert message.priority == "high" and message.subject == "Payroll export fails at 50%"


def card_message(ref_number: int = 42, status: str = "open") -> OutboundMessage:
    return OutboundMessage(
        ticket_ref=f"T-{ref_number}",
        subject="Payroll export fails",
        text="",
        kind="card",
        automatic=True,
        token="card-42",
        card=card(number=ref_number, ref=f"T-{ref_number}", status=status),
    )


async def test_card_buttons_run_commands_and_open_modals(
    fake: FakeDiscord, intake: RecordingIntake, bot: DiscordChannel, bob: FakeUser
) -> None:
    triage = fake.guild.channels["triage"]
    posted = await bot.send(ReplyTarget("discord", triage, ""), card_message())
    message = fake.messages[posted.external_id]
    assert message["embeds"][0]["title"] == "T-42 · Payroll export fails"
    assert posted.external_id in fake.channels  # the card has a thread for agents' replies

    taken = await fake.click(bob, message, "Take")
    assert taken.texts() == ["OK: take T-42"]
    opened = await fake.click(bob, message, "Set ETA")
    submitted = await fake.submit(
        bob, opened, {"when": "tomorrow 10:00", "text": "Vendor ships a fix"}
    )
    assert submitted.texts() == ["OK: eta T-42 tomorrow 10:00 Vendor ships a fix"]
    opened = await fake.click(bob, message, "Waiting")
    await fake.submit(bob, opened, {"what": "the vendor's fix"})
    assert [words for _, words in intake.commands] == [
        "take T-42",
        "eta T-42 tomorrow 10:00 Vendor ships a fix",
        "wait T-42 the vendor's fix",
    ]


async def test_card_buttons_still_work_after_a_restart_and_edits_update_them(
    fake: FakeDiscord, intake: RecordingIntake, bob: FakeUser
) -> None:
    triage = fake.guild.channels["triage"]
    first = fast_channel(discord_settings(fake))
    await first.start(intake)
    posted = await first.send(ReplyTarget("discord", triage, ""), card_message())
    await first.stop()

    second = fast_channel(discord_settings(fake))
    await second.start(intake)
    try:
        answer = await fake.click(bob, fake.messages[posted.external_id], "Resolve")
        assert answer.texts() == ["OK: resolve T-42"]
        edit = card_message(status="resolved")
        edited = await second.send(
            ReplyTarget("discord", triage, ""),
            replace(edit, edit_external_id=posted.external_id),
        )
        assert edited.external_id == posted.external_id
        buttons = fake.messages[posted.external_id]["components"][0]["components"]
        assert [b["label"] for b in buttons] == ["Reopen"]
        await settle(fake, second)
    finally:
        await second.stop()

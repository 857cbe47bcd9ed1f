"""`same`: one person writing on email and on Slack gets at most the daily cap, across both."""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from core.clock import FakeClock
from tests.fake_slack_payloads import envelope, message, slash_command
from tests.fake_slack_world import HELP, SlackWorld, slack_world

ALICE = "UALICE"  # an agent (tests/conftest.py)
CAROL_MAIL, CAROL_SLACK = "carol@example.com", "UCAROL"


def at(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
async def world(settings_factory: Any, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    def capped(**sections: Any) -> Any:
        return settings_factory(**sections, reminders={"max_automatic_per_day": 4})

    async with slack_world(capped, clock) as running:
        yield running


async def _ask(world: SlackWorld, words: str) -> str:
    status, body = await world.post(slash_command(ALICE, "alice", words))
    assert status == 200
    return html.unescape(str(json.loads(body)["text"]))  # Slack markup escapes <, > and &


def _automatic(world: SlackWorld, mails_before: int, posts_before: int) -> list[str]:
    """What Carol received, on both channels, since the counts given."""
    mails = [sent.message.text for sent in world.email.sent[mails_before:]]
    posts = [str(post["text"]) for post in world.slack.posted(HELP)[posts_before:]]
    return mails + posts


async def _two_tickets_from_carol(world: SlackWorld) -> None:
    """Carol mails about invoices and writes on Slack about the VPN; Alice answers both."""
    await world.email.say(CAROL_MAIL, "The invoices show the wrong VAT", message_id="m1")
    await world.post(envelope(message(CAROL_SLACK, HELP, "The VPN drops every 5 minutes")))
    await world.drain()
    for ref in ("T-1", "T-2"):
        assert (await world.app.desk.run_as("alice", f"priority {ref} high")).ok
        assert (await world.app.desk.run_as("alice", f"reply {ref} Looking into it.")).ok
    await world.drain()


async def _day_of_updates(world: SlackWorld, clock: FakeClock) -> list[str]:
    """Nobody writes for a day: what the promise loop sends Carol, on email and Slack."""
    mails, posts = len(world.email.sent), len(world.slack.posted(HELP))
    # Within a day of the acknowledgements, which count toward the cap.
    for moment in (at(13), at(17), at(21), at(8, 59, day=24)):
        clock.set(max(moment, clock.now()))
        await world.drain()
    return _automatic(world, mails, posts)


async def test_linked_requesters_get_the_cap_once_across_email_and_slack(
    world: SlackWorld, clock: FakeClock
) -> None:
    await _two_tickets_from_carol(world)
    said = await _ask(world, "same T-1 T-2")
    assert said == (
        "T-1 and T-2 are from one person now (email carol@example.com, slack UCAROL): "
        "automatic messages to them are counted together"
    )
    shown = await _ask(world, "show T-2")
    assert "also: email carol@example.com" in shown
    assert "person_linked [internal] alice: requester linked as one person with email" in shown

    got = await _day_of_updates(world, clock)
    # The cap is 4 a day for Carol, not 4 per channel: her two acknowledgements and two updates.
    assert len(got) == 2, got
    assert all("You will hear from us again" in text for text in got)


async def test_unlinked_requesters_each_have_their_own_cap(
    world: SlackWorld, clock: FakeClock
) -> None:
    """The baseline the test above differs from: two contacts, two caps."""
    await _two_tickets_from_carol(world)
    # Each contact: an acknowledgement and three updates, four each.
    assert len(await _day_of_updates(world, clock)) == 6


async def test_same_refuses_bad_input_and_changes_nothing(world: SlackWorld) -> None:
    await _two_tickets_from_carol(world)
    await world.email.say("dan@example.com", "Printer jams", message_id="m2")
    await world.email.say(CAROL_MAIL, "And the credit notes too", message_id="m3")
    await world.drain()
    assert await _ask(world, "same T-1 T-1") == (
        "T-1 twice: `same` links the requesters of two different tickets"
    )
    assert await _ask(world, "same T-1 T-99") == "there is no ticket T-99"
    assert await _ask(world, "same T-1") == "missing second ticket; usage: same <ticket> <ticket>"
    assert await _ask(world, "same T-1 T-2 please") == (
        "unexpected words after the second ticket; usage: same <ticket> <ticket>"
    )
    # T-1 and T-4 both came from carol@example.com: one contact, one person already.
    assert await _ask(world, "same T-1 T-4") == (
        "T-1 and T-4 are already from one person (email carol@example.com on both); nothing changed"
    )
    assert "also:" not in await _ask(world, "show T-1")
    assert "person_linked" not in await _ask(world, "show T-1")

    assert (await _ask(world, "same T-2 T-1")).startswith("T-2 and T-1 are from one person now")
    assert await _ask(world, "same T-1 T-2") == (
        "T-1 and T-2 are already from one person; nothing changed"
    )
    # Linking a third contact to either joins the same person.
    assert (await _ask(world, "same T-3 T-2")).startswith("T-3 and T-2 are from one person now")
    assert "also: email carol@example.com, slack UCAROL" in await _ask(world, "show T-3")

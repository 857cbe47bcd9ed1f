"""Agents on Slack see the whole conversation: follow-ups in the card's thread, the card current."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from channels.slack.outbound import TAKE
from core.clock import FakeClock
from core.intake.follow_ups import FOLLOW_UP_EXCERPT
from tests.fake_slack_payloads import button, envelope, message, slash_command
from tests.fake_slack_world import HELP, TRIAGE, SlackWorld, slack_world

ALICE = "UALICE"  # an agent (tests/conftest.py)


@pytest.fixture
async def world(settings_factory: Any, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock) as running:
        yield running


def in_card_thread(world: SlackWorld, ts: str) -> list[str]:
    """What agents read in the thread under the card posted at `ts`."""
    return [m["text"] for m in world.slack.posted(TRIAGE) if m.get("thread_ts") == ts]


def latest_card(world: SlackWorld, ts: str) -> str:
    """The card as agents see it now: its last edit, else the first post (blocks as JSON)."""
    edits = [c for c in world.slack.calls_to("chat.update") if c["ts"] == ts]
    posts = [c for c in world.slack.posted(TRIAGE) if c.get("blocks")]
    blocks = (edits or posts)[-1]["blocks"]
    return blocks if isinstance(blocks, str) else json.dumps(blocks)


async def test_a_slack_follow_up_is_posted_in_the_card_thread_and_shown_on_the_card(
    world: SlackWorld, clock: FakeClock
) -> None:
    first = message("UCAROL", HELP, "The VPN drops every 5 minutes")
    await world.post(envelope(first))
    await world.drain()
    [ts] = world.slack.cards(TRIAGE)
    assert in_card_thread(world, ts) == []

    clock.advance(timedelta(minutes=7))
    later = message("UCAROL", HELP, "It also drops on the office Wi-Fi", thread_ts=first["ts"])
    await world.post(envelope(later))
    await world.drain()

    [told] = in_card_thread(world, ts)
    assert told.startswith("T-1: UCAROL wrote on slack, Mon 23 Nov, 09:07 (UTC):")
    assert "It also drops on the office Wi-Fi" in told
    card = latest_card(world, ts)
    assert "Latest from UCAROL" in card and "It also drops on the office Wi-Fi" in card
    assert "The VPN drops every 5 minutes" in card, "the first message stays on the card"
    assert "Customer last wrote" in card
    assert len(world.slack.cards(TRIAGE)) == 1, "the card is edited, not posted again"


async def test_an_email_follow_up_reaches_the_slack_card_thread(
    world: SlackWorld, clock: FakeClock
) -> None:
    await world.email.say("bob@example.com", "Invoice 1042 is wrong", message_id="<m1@example.com>",
                          name="Bob")  # fmt: skip
    await world.drain()
    [ts] = world.slack.cards(TRIAGE)
    clock.advance(timedelta(hours=2))
    await world.email.say("bob@example.com", "The VAT line is doubled, too", name="Bob",
                          message_id="<m2@example.com>", thread="<m1@example.com>")  # fmt: skip
    await world.drain()

    [told] = in_card_thread(world, ts)
    assert told.startswith("T-1: Bob wrote on email, Mon 23 Nov, 11:00 (UTC):")
    assert "The VAT line is doubled, too" in told
    assert "The VAT line is doubled, too" in latest_card(world, ts)


async def test_a_long_follow_up_is_posted_as_an_excerpt_that_says_how_much_is_left(
    world: SlackWorld,
) -> None:
    await world.email.say("bob@example.com", "Export fails", message_id="<m1@example.com>")
    await world.drain()
    [ts] = world.slack.cards(TRIAGE)
    log = "".join(f"line {n:04d} ERROR timeout\n" for n in range(200))  # 4,800 characters
    await world.email.say("bob@example.com", log, message_id="<m2@example.com>",
                          thread="<m1@example.com>")  # fmt: skip
    await world.drain()

    [told] = in_card_thread(world, ts)
    assert "line 0000 ERROR" in told and "line 0199" not in told
    left = len(log.strip()) - FOLLOW_UP_EXCERPT
    assert told.endswith(f"(… {left} more characters: tidings tickets show T-1)")
    assert len(told) < FOLLOW_UP_EXCERPT + 200


async def test_a_reply_on_a_waiting_ticket_tells_the_agents_and_the_ticket_stays_with_alice(
    world: SlackWorld, clock: FakeClock
) -> None:
    await world.email.say("bob@example.com", "Invoice 1042 is wrong", message_id="<m1@example.com>",
                          name="Bob")  # fmt: skip
    await world.drain()
    [ts] = world.slack.cards(TRIAGE)
    await world.post(button(ALICE, "alice", TAKE, "T-1", channel=TRIAGE, card_ts=ts))
    assert (await world.app.desk.run_as("alice", 'wait T-1 "your purchase order number"')).ok
    await world.drain()

    clock.advance(timedelta(minutes=30))
    await world.email.say("bob@example.com", "The PO number is 4711-B", name="Bob",
                          message_id="<m2@example.com>", thread="<m1@example.com>")  # fmt: skip
    await world.drain()

    [told] = in_card_thread(world, ts)
    assert told.startswith(
        'T-1: customer answered — ticket was waiting on "your purchase order number". '
        "It is still waiting and still with alice"
    )
    assert "Bob wrote on email, Mon 23 Nov, 09:30 (UTC):\nThe PO number is 4711-B" in told
    [ticket] = await world.tickets()
    assert ticket["assignee"] == "alice" and ticket["status"] == "waiting"


async def test_a_message_from_the_ticket_page_reaches_the_card_thread(
    settings_factory: Any, clock: FakeClock
) -> None:
    web = {"public_url": "https://help.acme.test", "secret": "a test secret, not a real one"}

    def with_pages(**sections: Any) -> Any:
        return settings_factory(web=web, **sections)

    async with slack_world(with_pages, clock) as world:
        await world.email.say("bob@example.com", "Invoice 1042 is wrong", name="Bob",
                              message_id="<m1@example.com>")  # fmt: skip
        await world.drain()
        [ts] = world.slack.cards(TRIAGE)
        [ack] = world.email.texts_to("bob@example.com")
        path = ack[ack.index(web["public_url"]) + len(web["public_url"]) :].split()[0]
        page = f"http://127.0.0.1:{world.app.web_port}{path}"
        async with world.http.get(page) as answer:
            form = dict(re.findall(r'name="(nonce|csrf)" value="([^"]+)"', await answer.text()))
        message = "Attached the PDF to my last mail"
        async with world.http.post(page, data={**form, "message": message},
                                   allow_redirects=False) as answer:  # fmt: skip
            assert answer.status == 303
        await world.drain()

        [told] = in_card_thread(world, ts)
        assert told == f"T-1: Bob wrote on the ticket page, Mon 23 Nov, 09:00 (UTC):\n{message}"
        assert message in latest_card(world, ts)


async def test_show_on_slack_gives_the_timeline_in_the_desk_timezone_with_notes_marked(
    settings_factory: Any, clock: FakeClock
) -> None:
    def in_berlin(**sections: Any) -> Any:
        return settings_factory(reminders={"business_hours": {"timezone": "Europe/Berlin"}},
                                **sections)  # fmt: skip

    async with slack_world(in_berlin, clock) as world:
        first = message("UCAROL", HELP, "The VPN drops every 5 minutes")
        await world.post(envelope(first))
        await world.drain()
        [ts] = world.slack.cards(TRIAGE)
        clock.advance(timedelta(minutes=5))
        await world.post(envelope(message(ALICE, TRIAGE, "note: tunnel timeout", thread_ts=ts)))
        await world.drain()

        status, body = await world.post(slash_command(ALICE, "alice", "show T-1"))
        assert status == 200
        shown = json.loads(body)["text"].splitlines()
        start = shown.index("timeline (all events; times in Europe/Berlin):")
        assert shown[start + 1].startswith("Mon 23 Nov, 10:00 customer_message UCAROL: The VPN")
        assert shown[-1] == "Mon 23 Nov, 10:05 note [internal] alice: tunnel timeout"


async def test_a_reply_that_reopens_a_resolved_ticket_says_so_in_the_card_thread(
    world: SlackWorld,
) -> None:
    await world.email.say("bob@example.com", "Invoice 1042 is wrong", name="Bob",
                          message_id="<m1@example.com>")  # fmt: skip
    await world.drain()
    [ts] = world.slack.cards(TRIAGE)
    assert (await world.app.desk.run_as("alice", "take T-1")).ok
    assert (await world.app.desk.run_as("alice", "resolve T-1 Corrected and re-sent.")).ok
    await world.drain()
    await world.email.say("bob@example.com", "The new one has the same error", name="Bob",
                          message_id="<m2@example.com>", thread="<m1@example.com>")  # fmt: skip
    await world.drain()

    [told] = in_card_thread(world, ts)
    assert told.startswith("T-1 is open again: the customer wrote after it was resolved; "
                           "it is still with alice.\nT-1: Bob wrote on email")  # fmt: skip
    assert (await world.tickets())[0]["status"] == "open"

"""An incident update does to each linked ticket exactly what the ticket's own verb does.

The fan-out writes every linked ticket in grouped statements (core/incidents/fanout.py); the
ticket verbs write one ticket through tell_customer. Here twin tickets go through the same
history, then one hears an incident update and the other the same verb directly, at the same
moment: state, promises, timeline and outbox rows must come out alike."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import FakeClock
from core.incidents.views import show_incident
from core.storage.models import OutboxRow
from tests.fake_channel import FakeChannel

# While linked, a ticket is promised the incident's next update time (high cadence), where the
# twin's verb promises the twin's own: with every cadence alike, the two promise the same time.
SAME_CADENCE = "4h"

SAME_KEYS = ("status", "priority", "assignee", "eta", "next_update_due", "waiting_on",
             "first_response_at", "resolved_at", "closed_at")  # fmt: skip

# (history both twins go through, the incident words, the same verb on the twin)
CASES = {
    "reply to a new ticket": ([], "reply INC-1 {text}", "reply T-2 {text}"),
    "reply ends waiting": (['wait T-{n} "the bank" Asked them.'], "reply INC-1 {text}",
                           "reply T-2 {text}"),
    "wait on an urgent ticket bob holds": (
        ["priority T-{n} urgent", "assign T-{n} bob", "reply T-{n} Looking."],
        'wait INC-1 "the card processor" {text}', 'wait T-2 "the card processor" {text}',
    ),
    "eta on a new ticket": ([], "eta INC-1 2026-11-24 12:00 {text}",
                            "eta T-2 2026-11-24 12:00 {text}"),
    "eta replacing an unsent eta": (["eta T-{n} 2026-11-25 12:00"],
                                    "eta INC-1 2026-11-24 12:00 {text}",
                                    "eta T-2 2026-11-24 12:00 {text}"),
    "eta moving a heard eta of a waiting ticket": (
        ['wait T-{n} "the bank" Asked them.', "eta T-{n} 2026-11-25 12:00", "<settle>"],
        "eta INC-1 2026-11-24 12:00 {text}", "eta T-2 2026-11-24 12:00 {text}",
    ),
    "eta after a missed eta": (["eta T-{n} 2026-11-23 09:30", "<an hour>"],
                               "eta INC-1 2026-11-24 12:00 {text}",
                               "eta T-2 2026-11-24 12:00 {text}"),
    "resolve with an unsent ETA notice": (
        ["eta T-{n} 2026-11-24 12:00", "reply T-{n} Looking."],
        "resolve INC-1 {text}", "resolve T-2 {text}",
    ),
}  # fmt: skip


@pytest.fixture
async def desk_app(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Any]:
    """The shared desk_app, with one cadence for every priority and for waiting."""
    from bot.app import App

    cadence = dict.fromkeys(("urgent", "high", "normal", "low"), SAME_CADENCE)
    reminders = {"cadence": cadence, "waiting_cadence": SAME_CADENCE}
    fake = FakeChannel()
    settings = settings_factory(reminders=reminders)
    async with App(settings, clock=clock, channels=[fake], background=False) as app:
        app.fake = fake  # type: ignore[attr-defined]
        yield app


async def _run(app: Any, words: str) -> None:
    reply = await app.desk.run_as("alice", words)
    assert reply.ok, (words, reply.text)


async def _outbox(app: Any, ticket: int) -> list[dict[str, Any]]:
    async with app.db.sessions() as session:
        rows = (
            await session.scalars(
                select(OutboxRow).where(OutboxRow.ticket_id == ticket).order_by(OutboxRow.id)
            )
        ).all()
    found = []
    for row in rows:
        message = json.loads(row.message)
        found.append({
            "kind": row.kind, "status": row.status, "automatic": row.automatic,
            "audience": row.audience, "channel": row.channel, "due": row.next_attempt_at,
            "replies_to_the_customer": bool(message["in_reply_to"]),
            "references": len(message["references"]), "cancelled": "superseded" in row.last_error,
        })  # fmt: skip
    return found


def _state(ticket: dict[str, Any]) -> dict[str, Any]:
    # Who wrote the customer's message differs between the twins; everything else must not.
    events = [
        (e["kind"], e["visibility"], e["kind"] != "customer_message" and e["author"], e["at"])
        for e in ticket["events"]
        if not e["kind"].startswith("incident_")
    ]
    return {"ticket": {key: ticket[key] for key in SAME_KEYS}, "events": events,
            "promises": ticket["promises"]}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
async def test_the_fan_out_matches_the_ticket_verb(
    desk_app: Any, clock: FakeClock, case: str
) -> None:
    history, incident_words, ticket_words = CASES[case]
    fake: FakeChannel = desk_app.fake
    await fake.say("carol", "Payments fail", message_id="c1")
    await fake.say("dan", "Payments fail here too", message_id="d1")
    await desk_app.drain()
    await _run(desk_app, "incident Card payments failing")
    await _run(desk_app, "link T-1 INC-1")
    for words in history:
        if words == "<settle>":  # the ETA notices go out
            clock.advance(desk_app.settings.reminders.settle)
            await desk_app.drain()
        elif words == "<an hour>":  # the ETA passes (nobody has apologised yet)
            clock.advance(timedelta(hours=1))
        else:
            for number in (1, 2):
                await _run(desk_app, words.format(n=number))
    clock.advance(timedelta(seconds=2))  # the ETA notices (if any) have not gone out yet

    await _run(desk_app, incident_words.format(text="We are on it."))
    await _run(desk_app, ticket_words.format(text="We are on it."))
    clock.advance(timedelta(minutes=1))
    await desk_app.drain()
    clock.advance(desk_app.settings.reminders.settle)
    await desk_app.drain()

    linked, twin = await desk_app.show_ticket(1), await desk_app.show_ticket(2)
    assert _state(linked) == _state(twin)
    async with desk_app.db.sessions() as session:
        incident = await show_incident(session, 1)
    assert incident is not None
    if "resolve" not in case:  # the incident's promise is the linked ticket's
        assert linked["next_update_due"] == incident["next_update_due"]
    assert await _outbox(desk_app, 1) == await _outbox(desk_app, 2)
    last_to_carol, last_to_dan = fake.texts_to("carol")[-1], fake.texts_to("dan")[-1]
    assert "Card payments failing (INC-1)" in last_to_carol and "INC-1" not in last_to_dan
    # Carol reads the incident's words before the agent's; the rest is Dan's message, word for
    # word (an apology for a missed ETA, "earlier we said", the next update's time...).
    start = last_to_carol.index("About Card payments failing (INC-1)")
    end = last_to_carol.index("We are on it.")
    assert last_to_carol[:start] + last_to_carol[end:] == last_to_dan.replace("T-2", "T-1")
    if case == "eta after a missed eta":
        assert "and we missed that. We are sorry." in last_to_dan


async def test_the_fan_out_refreshes_each_ticket_s_triage_card(
    desk_app: Any, clock: FakeClock, settings_factory: Any
) -> None:
    from core.commands.run import run_words
    from core.context import Context

    fake: FakeChannel = desk_app.fake
    await fake.say("carol", "Payments fail", message_id="c1")
    await fake.say("dan", "Payments fail here too", message_id="d1")
    await desk_app.drain()
    await _run(desk_app, "incident Card payments failing")
    await _run(desk_app, "link T-1 INC-1")
    await _run(desk_app, "link T-2 INC-1")
    # The same desk as seen by a process with a Slack triage channel (nothing is sent here).
    slack = {"enabled": True, "bot_token": "xoxb-test", "signing_secret": "test",
             "triage_channel": "CTRIAGE"}  # fmt: skip
    triage = settings_factory(slack=slack)
    ctx = Context(triage, clock)

    async def wait(session: Any) -> Any:
        return await run_words(ctx, session, "alice", 'wait INC-1 "the processor" Asked them.')

    reply = await desk_app.db.write(wait)
    assert reply.ok, reply.text
    async with desk_app.db.sessions() as session:
        cards = (
            await session.scalars(
                select(OutboxRow).where(OutboxRow.kind == "card").order_by(OutboxRow.ticket_id)
            )
        ).all()
    assert [(c.ticket_id, c.channel, c.address, c.audience) for c in cards] == [
        (1, "slack", "CTRIAGE", "agents"), (2, "slack", "CTRIAGE", "agents"),
    ]  # fmt: skip
    for row in cards:
        card = json.loads(row.message)["card"]
        assert (card["status"], card["assignee"], card["waiting_on"]) == (
            "waiting", "alice", "the processor",
        )  # fmt: skip
        assert card["next_update_due"] is not None

"""Promises kept on a quiet desk: acks, automatic updates, nudges, apologies, waiting, resolve."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from core.clock import FakeClock


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in the test week (November 2026, UTC); the clock starts Monday the 23rd 09:00."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


async def go(app: Any, clock: FakeClock, moment: datetime) -> list[Any]:
    """Move the clock to `moment`, let the desk work, and return what customers got meanwhile."""
    before = len(app.fake.sent)
    clock.set(moment)
    await app.drain()
    return [sent.message for sent in app.fake.sent[before:]]


async def kinds(app: Any, number: int = 1) -> list[str]:
    return [event["kind"] for event in (await app.show_ticket(number))["events"]]


async def test_silence_gets_an_automatic_update_at_the_promised_time_and_not_before(
    desk_app: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="core.promises")
    await desk_app.fake.say("carol", "Invoices export as empty PDFs", message_id="m1", name="Carol")
    [ack] = await go(desk_app, clock, at(23, 9))
    assert "T-1" in ack.text and "A person on the support team will look at it" in ack.text
    assert "by Tue 24 Nov, 09:00 (UTC) at the latest" in ack.text

    assert await go(desk_app, clock, at(24, 8, 44)) == []
    assert await go(desk_app, clock, at(24, 8, 45)) == [], "the nudge is for agents only"
    nudge = (await desk_app.show_ticket(1))["events"][-1]
    assert nudge["kind"] == "nudge" and nudge["visibility"] == "internal"
    assert "owed an update by Tue 24 Nov, 09:00 (UTC), 15 min from now" in nudge["text"]
    assert "T-1: nudge" in caplog.text
    assert await go(desk_app, clock, at(24, 8, 59)) == []
    assert (await kinds(desk_app)).count("nudge") == 1, "one nudge per promise"

    [update] = await go(desk_app, clock, at(24, 9))
    assert update.kind == "status_update" and update.automatic
    assert "nobody has picked it up yet" in update.text
    assert "We have no news and no estimate for a fix yet." in update.text
    assert "by Wed 25 Nov, 09:00 (UTC)" in update.text
    assert update.in_reply_to == "m1", "the update answers in the customer's own thread"
    assert "patient" not in update.text.lower()

    assert await go(desk_app, clock, at(24, 9, 30)) == [], "sent once, not once per tick"
    shown = await desk_app.show_ticket(1)
    assert shown["next_update_due"] == "2026-11-25T09:00:00Z"
    first = shown["promises"][0]
    assert first["kind"] == "next_update" and first["kept"] is True
    assert first["settled_by"] == "status_update"


async def test_an_agent_reply_moves_the_next_update(desk_app: Any, clock: FakeClock) -> None:
    await desk_app.fake.say("dan", "VPN drops every few minutes", message_id="m1")
    await go(desk_app, clock, at(23, 9))
    clock.set(at(23, 14))
    assert (await desk_app.desk.run_as("alice", "reply T-1 Looking at the logs now.")).ok
    await desk_app.drain()
    assert "next update by Tue 24 Nov, 14:00 (UTC)" in desk_app.fake.sent[-1].message.text

    assert await go(desk_app, clock, at(24, 9, 30)) == [], "the old promise no longer holds"
    [update] = await go(desk_app, clock, at(24, 14))
    assert "alice has it and is working on it" in update.text
    promises = (await desk_app.show_ticket(1))["promises"]
    assert [(p["settled_by"], p["kept"]) for p in promises] == [
        ("agent_reply", True),
        ("status_update", True),
        (None, None),
    ]


async def test_a_missed_eta_earns_exactly_one_apology_and_a_new_one_earns_another(
    desk_app: Any, clock: FakeClock
) -> None:
    await desk_app.fake.say("erin", "Payroll report is wrong", message_id="m1")
    await go(desk_app, clock, at(23, 9))
    assert (await desk_app.desk.run_as("alice", "eta T-1 2026-11-23 15:00")).ok
    await go(desk_app, clock, at(23, 14, 59))

    [apology] = await go(desk_app, clock, at(23, 15))
    assert apology.kind == "apology" and apology.automatic
    assert apology.text.startswith(
        "We told you T-1 would be resolved by Mon 23 Nov, 15:00 (UTC), and we missed that. "
        "We are sorry."
    )
    assert apology.text.lower().count("sorry") == 1
    assert "alice is still working on it" in apology.text
    assert "We don't have a new estimate yet" in apology.text
    for hour in (16, 17, 20):
        assert await go(desk_app, clock, at(23, hour)) == [], "one apology per missed ETA"
    timeline = await desk_app.show_ticket(1)
    [asked] = [e for e in timeline["events"] if e["kind"] == "eta_missed"]
    assert asked["visibility"] == "internal" and "Set a new ETA" in asked["text"]

    clock.set(at(24, 9))
    assert (await desk_app.desk.run_as("alice", "eta T-1 2026-11-24 12:00")).ok
    clock.advance(desk_app.settings.reminders.settle)  # an ETA notice waits for a newer one
    await desk_app.drain()
    assert "sorry" not in desk_app.fake.sent[-1].message.text.lower(), "already apologised"
    [again] = await go(desk_app, clock, at(24, 12))
    assert "resolved by Tue 24 Nov, 12:00 (UTC), and we missed that" in again.text
    assert await go(desk_app, clock, at(24, 13)) == []
    eta_promises = [p for p in (await desk_app.show_ticket(1))["promises"] if p["kind"] == "eta"]
    assert [(p["kept"], p["settled_by"]) for p in eta_promises] == [
        (False, "apology"),
        (False, "apology"),
    ]


async def test_an_eta_kept_by_resolving_in_time_gets_no_apology(
    desk_app: Any, clock: FakeClock
) -> None:
    await desk_app.fake.say("erin", "Cannot log in", message_id="m1")
    await go(desk_app, clock, at(23, 9))
    assert (await desk_app.desk.run_as("alice", "eta T-1 2026-11-23 15:00")).ok
    clock.set(at(23, 14))
    assert (await desk_app.desk.run_as("alice", "resolve T-1 Password reset done.")).ok
    await desk_app.drain()
    await desk_app.fake.say("erin", "It happened again", message_id="m2", thread="m1")
    sent = await go(desk_app, clock, at(23, 16))
    assert [message.kind for message in sent] == ["reopened"], "the old ETA was kept, no sorry"
    [eta] = [p for p in (await desk_app.show_ticket(1))["promises"] if p["kind"] == "eta"]
    assert eta["kept"] is True and eta["settled_by"] == "resolved"


async def test_waiting_tells_the_reason_and_updates_continue_at_the_waiting_cadence(
    settings_factory: Any, clock: FakeClock
) -> None:
    from bot.app import App
    from tests.fake_channel import FakeChannel

    settings = settings_factory(reminders={"waiting_cadence": "2d"})
    async with App(settings, clock=clock, channels=[FakeChannel()], background=False) as app:
        app.fake = app.channels["fake"]
        await app.fake.say("fay", "Shipping labels fail to print", message_id="m1")
        await go(app, clock, at(23, 9))
        clock.set(at(23, 10))
        assert (await app.desk.run_as("bob", 'wait T-1 "the carrier\'s API fix"')).ok
        await app.drain()
        told = app.fake.sent[-1].message.text
        assert "we are waiting on the carrier's API fix" in told
        assert "Next update by Wed 25 Nov, 10:00 (UTC)" in told

        assert await go(app, clock, at(24, 10)) == [], "waiting cadence, not the normal one"
        [update] = await go(app, clock, at(25, 10))
        assert "we are still waiting on the carrier's API fix" in update.text
        assert "by Fri 27 Nov, 10:00 (UTC)" in update.text
        [second] = await go(app, clock, at(27, 10))
        assert second.kind == "status_update"


async def test_nothing_automatic_after_resolve_or_close(desk_app: Any, clock: FakeClock) -> None:
    for number, user in enumerate(("gus", "hana"), start=1):
        await desk_app.fake.say(user, f"Problem {number}", message_id=f"m{number}")
    await go(desk_app, clock, at(23, 9))
    assert (await desk_app.desk.run_as("alice", "eta T-1 2026-11-24 12:00")).ok
    assert (await desk_app.desk.run_as("alice", "resolve T-1 Fixed.")).ok
    assert (await desk_app.desk.run_as("alice", "close T-2")).ok
    await desk_app.drain()
    sent = []
    for day in range(24, 31):
        sent += await go(desk_app, clock, at(day, 12))
    assert sent == []
    for number in (1, 2):
        shown = await desk_app.show_ticket(number)
        assert shown["next_update_due"] is None
        assert all(p["settled_at"] for p in shown["promises"]), "no promise left hanging"


async def test_an_out_of_office_reply_is_never_answered(desk_app: Any, clock: FakeClock) -> None:
    await desk_app.fake.say("ivan", "Printer offline", message_id="m1")
    await go(desk_app, clock, at(23, 9))
    await go(desk_app, clock, at(24, 9))
    await desk_app.fake.say("ivan", "I am out of office until Monday.", message_id="ooo-1",
                            thread="m1", kind="auto_reply")  # fmt: skip
    assert await go(desk_app, clock, at(24, 12)) == []
    shown = await desk_app.show_ticket(1)
    assert shown["next_update_due"] == "2026-11-25T09:00:00Z", "an auto-reply moves nothing"
    [update] = await go(desk_app, clock, at(25, 9))
    assert update.in_reply_to == "m1", "the update answers the person, not the auto-responder"


async def test_one_tick_works_through_every_batch(desk_app: Any, clock: FakeClock) -> None:
    desk_app.promises.batch = 2  # smaller than the due set: the tick must page through it
    for number in range(1, 6):
        await desk_app.fake.say(f"user{number}", f"Problem {number}", message_id=f"m{number}")
    await go(desk_app, clock, at(23, 9))
    clock.set(at(24, 9))
    assert await desk_app.promises.tick() == 5
    assert await desk_app.promises.tick() == 0
    await desk_app.drain()
    assert [s.message.kind for s in desk_app.fake.sent[5:]] == ["status_update"] * 5

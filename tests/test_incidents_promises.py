"""The incident's promise in the promise loop: linked customers hear one automatic update and
one apology per missed incident ETA each, never their own tickets' reminders one by one."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from core import metrics
from core.clock import FakeClock
from tests.fake_channel import FakeChannel


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Any]:
    """A desk whose incidents are owed news every hour (the `high` cadence)."""
    from bot.app import App

    fake = FakeChannel()
    settings = settings_factory(reminders={"cadence": {"high": "1h"}})
    async with App(settings, clock=clock, channels=[fake], background=False) as app:
        app.fake = fake  # type: ignore[attr-defined]
        yield app


async def go(app: Any, clock: FakeClock, moment: datetime) -> dict[str, list[Any]]:
    """Move the clock, let the desk work; what each customer received meanwhile."""
    before = len(app.fake.sent)
    clock.set(moment)
    await app.drain()
    got: dict[str, list[Any]] = {}
    for sent in app.fake.sent[before:]:
        got.setdefault(sent.target.address, []).append(sent)
    return got


async def run(app: Any, words: str) -> str:
    reply = await app.desk.run_as("alice", words)
    assert reply.ok, (words, reply.text)
    return str(reply.text)


async def _outage(app: Any, clock: FakeClock, people: tuple[str, ...]) -> None:
    """Each person reports the outage at 09:00; INC-1 is opened and linked at 09:10."""
    for person in people:
        await app.fake.say(person, "Card payments fail at checkout", message_id=f"{person}-1")
    await go(app, clock, at(23, 9))
    clock.set(at(23, 9, 10))
    await run(app, "incident Card payments failing")
    for number in range(1, len(people) + 1):
        await run(app, f"link T-{number} INC-1")


async def test_one_automatic_update_and_one_apology_per_customer_for_the_whole_incident(
    desk: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="core.promises")
    people = ("carol", "dan", "erin")
    await _outage(desk, clock, people)
    await desk.fake.say("frank", "My printer is out of toner", message_id="frank-1")
    assert list(await go(desk, clock, at(23, 9, 10))) == ["frank"]  # his acknowledgement
    clock.set(at(23, 9, 20))
    await run(desk, "eta INC-1 in 2h Rerouting payments to the backup processor.")
    told = await go(desk, clock, at(23, 9, 21))
    assert sorted(told) == list(people)
    assert all(len(messages) == 1 and messages[0].message.kind == "eta_set"
               for messages in told.values())  # fmt: skip
    assert "Next update by Mon 23 Nov, 10:20 (UTC)." in told["carol"][0].message.text

    assert await go(desk, clock, at(23, 10, 5)) == {}, "the nudge is for agents only"
    assert caplog.text.count("INC-1: nudge") == 1, "one nudge for the incident, not three"
    assert await go(desk, clock, at(23, 10, 10)) == {}
    assert caplog.text.count("INC-1: nudge") == 1

    updates = await go(desk, clock, at(23, 10, 20))
    assert sorted(updates) == list(people)
    for person, [update] in updates.items():
        text = update.message.text
        assert update.message.kind == "status_update" and update.message.automatic
        assert text.startswith("No news yet on Card payments failing (INC-1)")
        assert "We still expect it to be resolved by Mon 23 Nov, 11:20 (UTC)." in text
        assert "by Mon 23 Nov, 11:20 (UTC), sooner if anything changes" in text
        assert update.target.thread == f"{person}-1", "in the customer's own thread"
    assert await go(desk, clock, at(23, 10, 50)) == {}, "once, not once per tick"

    apologies = await go(desk, clock, at(23, 11, 20))
    assert sorted(apologies) == list(people)
    for [apology] in apologies.values():
        text = apology.message.text
        assert apology.message.kind == "apology"
        assert "would be fixed by Mon 23 Nov, 11:20 (UTC), and we missed that" in text
        assert text.lower().count("sorry") == 1
    assert await go(desk, clock, at(23, 11, 50)) == {}, "one apology per missed ETA"
    shown = await desk.show_ticket(1)
    assert shown["next_update_due"] == "2026-11-23T12:20:00Z"
    assert [(p["kind"], p["kept"], p["settled_by"]) for p in shown["promises"]] == [
        ("next_update", True, "eta_set"),  # the acknowledgement's promise
        ("eta", False, "apology"),
        ("next_update", True, "status_update"),
        ("next_update", True, "apology"),
        ("next_update", None, None),
    ]

    clock.set(at(23, 12))
    assert await run(desk, "resolve INC-1 Payments go through again.") == (
        "INC-1 resolved; 3 linked ticket(s) resolved, each told"
    )
    resolved = await go(desk, clock, at(23, 12, 1))
    assert sorted(resolved) == list(people)
    assert all(len(messages) == 1 for messages in resolved.values())
    # Frank's ticket was never linked: it keeps its own promise, untouched by the incident.
    frank = await go(desk, clock, at(24, 9, 10))
    assert list(frank) == ["frank"] and frank["frank"][0].message.kind == "status_update"
    assert "An update on T-4" in frank["frank"][0].message.text


async def test_a_person_with_two_linked_tickets_hears_each_update_once(
    desk: Any, clock: FakeClock
) -> None:
    await desk.fake.say("carol", "Card payments fail at checkout", message_id="c1")
    await desk.fake.say("carol", "Refunds fail too", message_id="c2")
    await desk.fake.say("dan", "Cannot pay by card", message_id="d1")
    await go(desk, clock, at(23, 9))
    await run(desk, "incident Card payments failing")
    for number in (1, 2, 3):
        await run(desk, f"link T-{number} INC-1")

    clock.set(at(23, 9, 30))
    await run(desk, "reply INC-1 The processor rejects a third of payments.")
    told = await go(desk, clock, at(23, 9, 31))
    assert {person: len(messages) for person, messages in told.items()} == {"carol": 1, "dan": 1}
    assert told["carol"][0].target.thread == "c1", "on her oldest ticket"
    second = await desk.show_ticket(2)
    [reply] = [e for e in second["events"] if e["kind"] == "agent_reply"]
    assert reply["visibility"] == "public", "recorded on her other ticket, for its page"
    assert second["next_update_due"] == "2026-11-23T10:30:00Z"

    updates = await go(desk, clock, at(23, 10, 30))
    assert {person: len(messages) for person, messages in updates.items()} == {
        "carol": 1, "dan": 1,
    }  # fmt: skip
    assert [e["kind"] for e in (await desk.show_ticket(2))["events"]][-1] == "status_update"

    await run(desk, "resolve INC-1 Fixed.")
    resolved = await go(desk, clock, at(23, 10, 31))
    assert {person: len(messages) for person, messages in resolved.items()} == {
        "carol": 1, "dan": 1,
    }  # fmt: skip
    assert [t["status"] for t in await desk.list_tickets()] == ["resolved"] * 3


async def test_the_per_customer_cap_still_holds_for_incident_updates(
    settings_factory: Any, clock: FakeClock
) -> None:
    from bot.app import App

    fake = FakeChannel()
    # Two a day: the acknowledgement counts, so one automatic update.
    reminders = {"cadence": {"high": "1h"}, "max_automatic_per_day": 2}
    async with App(settings_factory(reminders=reminders), clock=clock, channels=[fake],
                   background=False) as app:  # fmt: skip
        app.fake = fake  # type: ignore[attr-defined]
        await _outage(app, clock, ("carol",))
        await run(app, "reply INC-1 Looking into it.")  # at 09:10: due 10:10
        await go(app, clock, at(23, 9, 11))
        first = await go(app, clock, at(23, 10, 10))
        assert [m.message.kind for m in first["carol"]] == ["status_update"]
        assert await go(app, clock, at(23, 11, 10)) == {}, "two automatic messages a day"
        shown = await app.show_ticket(1)
        [capped] = [e for e in shown["events"] if e["kind"] == "capped"]
        assert "held back" in capped["text"] and capped["visibility"] == "internal"
        # Not before the cap frees: when the acknowledgement (09:00) leaves the rolling day.
        assert shown["next_update_due"] >= "2026-11-24T09:00:00Z"
        assert await go(app, clock, at(23, 16)) == {}


async def test_an_earlier_promise_of_a_linked_ticket_brings_the_incident_s_update_forward(
    desk_app: Any, clock: FakeClock
) -> None:
    # Carol's urgent ticket was promised news by 10:00, before it joined the incident (whose
    # own next update is four hours away): everyone hears the incident's update at 10:00.
    await desk_app.fake.say("carol", "Card payments fail", message_id="carol-1")
    await desk_app.fake.say("dan", "Card payments fail here too", message_id="dan-1")
    await go(desk_app, clock, at(23, 9))
    await run(desk_app, "priority T-1 urgent")
    await run(desk_app, "reply T-1 Looking now.")
    assert list(await go(desk_app, clock, at(23, 9, 1))) == ["carol"]
    clock.set(at(23, 9, 5))
    await run(desk_app, "incident Card payments failing")
    await run(desk_app, "link T-1 INC-1")
    await run(desk_app, "link T-2 INC-1")
    assert await go(desk_app, clock, at(23, 9, 59)) == {}
    updates = await go(desk_app, clock, at(23, 10))
    assert {person: len(messages) for person, messages in updates.items()} == {
        "carol": 1, "dan": 1,
    }  # fmt: skip
    assert all(m[0].message.text.startswith("No news yet") for m in updates.values())
    due = {t["next_update_due"] for t in await desk_app.list_tickets()}
    assert due == {"2026-11-23T14:00:00Z"}, "both now wait on the incident's next update"


async def test_the_fan_out_counts_the_promises_it_settles(desk_app: Any, clock: FakeClock) -> None:
    def settled(kind: str, result: str) -> float:
        labels = {"kind": kind, "result": result}
        return metrics.REGISTRY.get_sample_value("tidings_promises_settled_total", labels) or 0.0

    await _outage(desk_app, clock, ("carol", "dan"))
    kept = settled("next_update", "kept")
    await run(desk_app, "eta INC-1 2026-11-23 11:00 Rerouting.")
    assert settled("next_update", "kept") == kept + 2, "each acknowledgement's promise, kept"
    broken = settled("eta", "broken")
    clock.set(at(23, 12))  # the ETA passed with nobody looking (the loop has not run)
    await run(desk_app, "eta INC-1 in 2h Still rerouting.")
    assert settled("eta", "broken") == broken + 2, "a correction after the ETA: two broken"
    clock.set(at(23, 12, 1))
    await run(desk_app, "eta INC-1 in 3h A longer job.")
    assert settled("eta", "broken") == broken + 2, "a correction before it: neither"


async def test_an_unlinked_ticket_goes_back_to_its_own_promise(desk: Any, clock: FakeClock) -> None:
    await _outage(desk, clock, ("carol", "dan"))
    await run(desk, "reply INC-1 Looking into it.")  # 09:10: both owed news by 10:10
    await go(desk, clock, at(23, 9, 11))
    clock.set(at(23, 9, 30))
    await run(desk, "unlink T-1")
    updates = await go(desk, clock, at(23, 10, 10))
    assert updates["carol"][0].message.text.startswith("An update on T-1"), "her own update"
    assert updates["dan"][0].message.text.startswith("No news yet on Card payments failing")
    assert [len(messages) for messages in updates.values()] == [1, 1]
    later = await go(desk, clock, at(23, 11, 10))
    assert list(later) == ["dan"], "Carol's next update is at her ticket's own cadence"


async def test_the_automatic_update_of_a_waiting_incident_says_what_it_waits_on(
    desk: Any, clock: FakeClock
) -> None:
    await _outage(desk, clock, ("carol",))
    await run(desk, 'wait INC-1 "the card processor" We have asked them.')
    await go(desk, clock, at(23, 9, 11))
    [update] = (await go(desk, clock, at(23, 10, 10)))["carol"]
    assert "We are waiting on the card processor." in update.message.text

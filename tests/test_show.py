"""`show <ticket>`: the ticket's state, then its last 20 events in the desk's timezone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.app import App
from core.clock import FakeClock
from tests.fake_channel import FakeChannel


@pytest.fixture
async def berlin_desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[App]:
    fake = FakeChannel()
    hours = {"business_hours": {"timezone": "Europe/Berlin"}}
    async with App(
        settings_factory(reminders=hours), clock=clock, channels=[fake], background=False
    ) as app:
        app.fake = fake  # type: ignore[attr-defined]
        yield app


async def test_show_keeps_its_header_and_adds_the_timeline(
    berlin_desk: Any, clock: FakeClock
) -> None:
    app = berlin_desk
    await app.fake.say("carol", "The VPN drops every 5 minutes", message_id="m1", name="Carol")
    await app.drain()
    clock.advance(timedelta(minutes=5))
    assert (await app.desk.run_as("alice", "note T-1 Probably the new firewall rule")).ok
    clock.advance(timedelta(minutes=5))
    assert (await app.desk.run_as("alice", "reply T-1 We are on it.")).ok

    shown = await app.desk.run_as("bob", "show T-1")
    assert shown.ok and shown.ticket_ref == "T-1"
    lines = shown.text.splitlines()
    assert lines[0] == "T-1 [open, normal] The VPN drops every 5 minutes"
    assert lines[1] == "channel: fake · assignee: alice"
    assert lines[2].startswith("eta: not set · next update due: ")
    assert lines[3:] == [
        "timeline (all events; times in Europe/Berlin):",
        "Mon 23 Nov, 10:00 customer_message Carol: The VPN drops every 5 minutes",
        "Mon 23 Nov, 10:00 ack tidings: Hello Carol, We have your message and logged it as T-1 "
        '("The VPN drops…',
        "Mon 23 Nov, 10:05 note [internal] alice: Probably the new firewall rule",
        "Mon 23 Nov, 10:10 agent_reply alice: We are on it.",
    ]
    assert "[internal]" not in lines[4] + lines[5] + lines[7], "only internal events are marked"


async def test_show_gives_only_the_last_twenty_events_and_cuts_long_ones(
    berlin_desk: Any, clock: FakeClock
) -> None:
    app = berlin_desk
    await app.fake.say("carol", "Printer jammed " + "again " * 40, message_id="m1")
    await app.drain()
    for n in range(1, 24):
        clock.advance(timedelta(minutes=1))
        assert (await app.desk.run_as("alice", f"note T-1 check {n}")).ok

    lines = (await app.desk.run_as("alice", "show #1")).text.splitlines()
    timeline = lines[lines.index("timeline (the last 20 of 25 events; times in Europe/Berlin):") :]
    assert len(timeline) == 21
    assert timeline[1] == "Mon 23 Nov, 10:04 note [internal] alice: check 4"
    assert timeline[-1] == "Mon 23 Nov, 10:23 note [internal] alice: check 23"

    await app.fake.say("carol", "x" * 500, message_id="m2", thread="m1")
    await app.drain()
    last = (await app.desk.run_as("alice", "show 1")).text.splitlines()[-1]
    assert last.endswith("customer_message carol: " + "x" * 70 + "…")


async def test_show_of_a_missing_ticket_changes_nothing(berlin_desk: Any) -> None:
    missing = await berlin_desk.desk.run_as("alice", "show T-9")
    assert not missing.ok and missing.text == "there is no ticket T-9"

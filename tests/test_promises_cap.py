"""The daily cap on automatic messages: the last one it allows promises only what we will keep."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.app import App
from core.clock import FakeClock
from tests.fake_channel import FakeChannel


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


async def go(app: App, fake: FakeChannel, clock: FakeClock, moment: datetime) -> list[Any]:
    """Move the clock to `moment`, let the desk work, and return what customers got meanwhile."""
    before = len(fake.sent)
    clock.set(moment)
    await app.drain()
    return [sent.message for sent in fake.sent[before:]]


async def test_the_last_message_the_cap_allows_promises_when_the_cap_frees(
    settings_factory: Any, clock: FakeClock
) -> None:
    # The acknowledgement is the first of the day's three automatic messages.
    settings = settings_factory(reminders={"max_automatic_per_day": 3})
    fake = FakeChannel()
    async with App(settings, clock=clock, channels=[fake], background=False) as app:
        await fake.say("uma", "Our shop's card payments fail", message_id="m1")
        await go(app, fake, clock, at(23, 9))
        assert (await app.desk.run_as("alice", "priority T-1 high")).ok
        assert (await app.desk.run_as("alice", "reply T-1 Looking into it.")).ok
        await app.drain()
        assert "next update by Mon 23 Nov, 13:00 (UTC)" in fake.sent[-1].message.text

        # Nobody writes again. The first automatic update keeps the four-hour cadence...
        [first] = await go(app, fake, clock, at(23, 13))
        assert "You will hear from us again by Mon 23 Nov, 17:00 (UTC)" in first.text
        # ...the second is the last of three a day (the acknowledgement at 09:00 was the first):
        # it promises the time the cap frees, when that acknowledgement leaves the day, not 21:00.
        [second] = await go(app, fake, clock, at(23, 17))
        assert "You will hear from us again by Tue 24 Nov, 09:00 (UTC)" in second.text
        for moment in (at(23, 21), at(24, 8, 59)):
            assert await go(app, fake, clock, moment) == []
        [third] = await go(app, fake, clock, at(24, 9))
        assert third.kind == "status_update" and third.automatic

        shown = await app.show_ticket(1)
        assert shown is not None
        assert "capped" not in [event["kind"] for event in shown["events"]]
        settled = [(p["settled_by"], p["kept"]) for p in shown["promises"] if p["settled_at"]]
        assert settled == [
            ("agent_reply", True),
            ("status_update", True),
            ("status_update", True),
            ("status_update", True),
        ], "every promise kept, none broken by our own cap"


async def test_the_time_the_cap_frees_is_counted_in_business_time(
    settings_factory: Any, clock: FakeClock
) -> None:
    # Mon-Fri 09:00-17:00 in Berlin (UTC+1 in November); Thursday 26 November is a holiday.
    hours = {"timezone": "Europe/Berlin", "days": ["mon", "tue", "wed", "thu", "fri"],
             "open": "09:00", "close": "17:00", "holidays": ["2026-11-26"]}  # fmt: skip
    # Three a day, the acknowledgement included.
    settings = settings_factory(reminders={"max_automatic_per_day": 3, "business_hours": hours})
    fake = FakeChannel()
    clock.set(at(25, 8))  # Wednesday 09:00 in Berlin
    async with App(settings, clock=clock, channels=[fake], background=False) as app:
        await fake.say("vera", "Nobody can clock in", message_id="m1")
        await app.drain()
        assert (await app.desk.run_as("alice", "priority T-1 urgent")).ok
        assert (await app.desk.run_as("alice", "reply T-1 On it.")).ok
        await app.drain()
        [first] = await go(app, fake, clock, at(25, 9))
        assert "by Wed 25 Nov, 11:00 (Europe/Berlin)" in first.text
        # The cap frees when the acknowledgement (Wednesday 09:00) leaves the day: on Thursday,
        # a holiday, so the promise is Friday's opening.
        [second] = await go(app, fake, clock, at(25, 10))
        assert "by Fri 27 Nov, 09:00 (Europe/Berlin)" in second.text
        for moment in (at(25, 11), at(26, 9), at(27, 7, 59)):
            assert await go(app, fake, clock, moment) == []
        [third] = await go(app, fake, clock, at(27, 8))
        assert third.kind == "status_update"
        shown = await app.show_ticket(1)
        assert shown is not None
        assert all(p["kept"] for p in shown["promises"] if p["settled_at"]), "none broken"


async def test_an_acknowledgement_that_fills_the_cap_promises_when_it_frees(
    settings_factory: Any, clock: FakeClock
) -> None:
    reminders = {"max_automatic_per_day": 2, "cadence": {"normal": "4h"}}
    settings = settings_factory(reminders=reminders)
    fake = FakeChannel()
    async with App(settings, clock=clock, channels=[fake], background=False) as app:
        await fake.say("uma", "Our shop's card payments fail", message_id="m1")
        [first_ack] = await go(app, fake, clock, at(23, 9))
        assert "by Mon 23 Nov, 13:00 (UTC)" in first_ack.text, "room left: the usual cadence"
        # A second problem an hour later: its acknowledgement is her second automatic message
        # of the day, so the first update it promises is when the 09:00 one leaves the day.
        await fake.say("uma", "And the receipt printer is offline", message_id="m2")
        [second_ack] = await go(app, fake, clock, at(23, 10))
        assert second_ack.ticket_ref == "T-2"
        assert "by Tue 24 Nov, 09:00 (UTC)" in second_ack.text
        # T-1's update at 13:00 is held by the cap (and says so internally); T-2 owes nothing
        # before Tuesday 09:00, so nothing it promised is broken by our own cap.
        assert await go(app, fake, clock, at(23, 13)) == []
        shown = await app.show_ticket(2)
        assert shown is not None
        assert "capped" not in [event["kind"] for event in shown["events"]]
        assert shown["next_update_due"] == "2026-11-24T09:00:00Z"

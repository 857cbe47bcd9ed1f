"""Promises under limits: business hours and holidays, the per-customer cap, a restart, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import App
from core.clock import FakeClock
from tests.fake_channel import FakeChannel

ROOT = Path(__file__).resolve().parent.parent
# Mon-Fri 09:00-17:00 in Berlin (UTC+1 in November); Tuesday 24 November is a holiday.
HOURS = {
    "timezone": "Europe/Berlin",
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "open": "09:00",
    "close": "17:00",
    "holidays": ["2026-11-24"],
}


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    """A Berlin wall-clock time in the test week, as UTC (Berlin is UTC+1 in November)."""
    return datetime(2026, 11, day, hour - 1, minute, tzinfo=UTC)


@asynccontextmanager
async def desk(settings: Any, clock: FakeClock) -> AsyncIterator[App]:
    fake = FakeChannel()
    async with App(settings, clock=clock, channels=[fake], background=False) as app:
        app.fake = fake  # type: ignore[attr-defined]
        yield app


async def go(app: Any, clock: FakeClock, moment: datetime) -> list[Any]:
    before = len(app.fake.sent)
    clock.set(moment)
    await app.drain()
    return [sent.message for sent in app.fake.sent[before:]]


async def test_updates_wait_for_opening_hours_and_skip_holidays(
    settings_factory: Any, clock: FakeClock
) -> None:
    settings = settings_factory(reminders={"business_hours": HOURS})
    async with desk(settings, clock) as app:
        await app.fake.say("jo", "Badge reader rejects my card", message_id="m1")
        [ack] = await go(app, clock, berlin(23, 16))
        # One business day from Monday 16:00: Tuesday is a holiday, so Wednesday 16:00.
        assert "by Wed 25 Nov, 16:00 (Europe/Berlin)" in ack.text

        assert await go(app, clock, berlin(24, 16)) == [], "holiday"
        assert await go(app, clock, berlin(25, 15, 59)) == []
        [update] = await go(app, clock, berlin(25, 16))
        assert "by Thu 26 Nov, 16:00 (Europe/Berlin)" in update.text


async def test_a_four_hour_cadence_counts_only_opening_hours(
    settings_factory: Any, clock: FakeClock
) -> None:
    settings = settings_factory(reminders={"business_hours": HOURS})
    clock.set(berlin(27, 15))  # Friday 15:00
    async with desk(settings, clock) as app:
        await app.fake.say("kim", "Checkout is down", message_id="m1")
        await app.drain()
        assert (await app.desk.run_as("alice", "priority T-1 high")).ok
        assert (await app.desk.run_as("alice", "reply T-1 We are on it.")).ok
        await app.drain()
        # Two hours on Friday, two more on Monday morning.
        assert "next update by Mon 30 Nov, 11:00 (Europe/Berlin)" in app.fake.sent[-1].message.text
        for moment in (berlin(27, 18), datetime(2026, 11, 28, 12, tzinfo=UTC), berlin(30, 10, 59)):
            assert await go(app, clock, moment) == []
        [update] = await go(app, clock, berlin(30, 11))
        assert update.kind == "status_update"


async def test_an_eta_missed_at_night_is_apologised_for_at_the_next_opening(
    settings_factory: Any, clock: FakeClock
) -> None:
    settings = settings_factory(reminders={"business_hours": HOURS})
    async with desk(settings, clock) as app:
        await app.fake.say("lee", "Reports are slow", message_id="m1")
        await go(app, clock, berlin(25, 10))
        assert (await app.desk.run_as("alice", "eta T-1 2026-11-25 20:00")).ok
        clock.advance(app.settings.reminders.settle)  # an ETA notice waits for a newer one
        await app.drain()
        assert await go(app, clock, berlin(25, 21)) == [], "the desk is closed at 21:00"
        assert await go(app, clock, berlin(26, 8, 59)) == []
        [apology] = await go(app, clock, berlin(26, 9))
        assert "by Wed 25 Nov, 20:00 (Europe/Berlin), and we missed that" in apology.text


async def test_an_agent_setting_a_new_eta_before_the_apology_carries_it(
    settings_factory: Any, clock: FakeClock
) -> None:
    settings = settings_factory(reminders={"business_hours": HOURS})
    async with desk(settings, clock) as app:
        await app.fake.say("lee", "Reports are slow", message_id="m1")
        await go(app, clock, berlin(25, 10))
        assert (await app.desk.run_as("alice", "eta T-1 2026-11-25 20:00")).ok
        await app.drain()
        clock.set(berlin(25, 22))
        assert (await app.desk.run_as("alice", "eta T-1 2026-11-26 12:00")).ok
        [told] = await go(app, clock, berlin(25, 22, 1))
        assert "20:00 (Europe/Berlin), and we missed that. We are sorry." in told.text
        assert "resolved by Thu 26 Nov, 12:00" in told.text
        assert await go(app, clock, berlin(26, 11)) == [], "that apology was the only one"


async def test_the_cap_holds_automatic_messages_per_person_across_tickets(
    settings_factory: Any, clock: FakeClock
) -> None:
    settings = settings_factory(reminders={"max_automatic_per_day": 3})
    async with desk(settings, clock) as app:
        for number in (1, 2):
            await app.fake.say("mo", f"Urgent thing {number}", message_id=f"m{number}")
        await app.drain()
        for number in (1, 2):
            assert (await app.desk.run_as("alice", f"priority T-{number} urgent")).ok
        sent: list[Any] = []
        for hour in range(10, 24):
            sent += await go(app, clock, datetime(2026, 11, 23, hour, tzinfo=UTC))
        automatic = [m for m in sent if m.automatic]
        # The two acknowledgements at 09:00 count: one update more makes three for mo today.
        assert len(automatic) == 1, "three in a rolling day for mo (two acks), whichever ticket"
        shown = await app.show_ticket(2)
        held = [e for e in shown["events"] if e["kind"] == "capped"]
        assert held and "already had 3 automatic messages" in held[0]["text"]
        assert any(p["settled_by"] == "cap" and p["kept"] is False for p in shown["promises"])
        # 24 hours after the acknowledgements both leave the window, so both held updates go.
        events = [*(await app.show_ticket(1))["events"], *shown["events"]]
        acked = min(datetime.fromisoformat(e["at"]) for e in events if e["kind"] == "ack")
        later = await go(app, clock, acked.replace(day=24))
        assert len([m for m in later if m.automatic]) == 2
        for hour in range(10, 24):
            await go(app, clock, datetime(2026, 11, 24, hour, tzinfo=UTC))
        events = [*(await app.show_ticket(1))["events"], *(await app.show_ticket(2))["events"]]
        times = sorted(
            datetime.fromisoformat(e["at"]) for e in events if e["kind"] in ("ack", "status_update")
        )
        hours = ((23, 9), (23, 10), (24, 9), (24, 10))
        day = [datetime(2026, 11, d, h, tzinfo=UTC) for d, h in hours]
        assert times == [day[0], day[0], day[1], day[2], day[2], day[3]], (
            "three a day, acknowledgements included, each as soon as the rolling window lets it"
        )
        for i, start in enumerate(times):
            in_window = [t for t in times[i:] if t - start < timedelta(days=1)]
            assert len(in_window) <= 3, f"more than 3 automatic messages in the day from {start}"


async def test_a_reminder_due_while_down_is_sent_once_on_start(
    settings_factory: Any, clock: FakeClock
) -> None:
    settings = settings_factory()
    async with desk(settings, clock) as app:
        await app.fake.say("nia", "Mail server rejects attachments", message_id="m1")
        await app.drain()
    clock.set(datetime(2026, 11, 27, 9, tzinfo=UTC))  # down for four days
    async with desk(settings, clock) as app:
        await app.drain()
        await app.drain()
        assert [s.message.kind for s in app.fake.sent] == ["status_update"]
        [missed, current] = (await app.show_ticket(1))["promises"]
        assert missed["kept"] is False, "four days late is not kept, and the record says so"
        assert current["due_at"] == "2026-11-28T09:00:00Z"


async def test_the_cli_shows_promises_and_whether_each_was_kept(
    settings_factory: Any, database_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    async with desk(settings_factory(), clock) as app:
        await app.fake.say("ola", "Wrong VAT on invoice", message_id="m1")
        await go(app, clock, datetime(2026, 11, 23, 9, tzinfo=UTC))
        assert (await app.desk.run_as("alice", "eta T-1 2026-11-23 12:00")).ok
        await go(app, clock, datetime(2026, 11, 23, 13, tzinfo=UTC))
    config = tmp_path / "cli.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n[email]\nenabled = false\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TIDINGS_CONFIG": str(config)}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "tickets", "show", "T-1", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    promises = json.loads(done.stdout)["promises"]
    summary = [(p["kind"], p["kept"], p["settled_by"]) for p in promises]
    assert summary == [
        ("next_update", True, "eta_set"),
        ("eta", False, "apology"),
        ("next_update", True, "apology"),
        ("next_update", None, None),
    ]


async def test_an_apology_held_by_the_cap_goes_out_once_when_the_cap_frees(
    settings_factory: Any, clock: FakeClock
) -> None:
    settings = settings_factory(reminders={"max_automatic_per_day": 1})
    async with desk(settings, clock) as app:
        await app.fake.say("pia", "Sync fails", message_id="m1")
        await app.drain()
        clock.set(datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
        assert (await app.desk.run_as("alice", "eta T-1 2026-11-24 12:00")).ok
        clock.advance(app.settings.reminders.settle)  # an ETA notice waits for a newer one
        await app.drain()
        [update] = await go(app, clock, datetime(2026, 11, 24, 9, 30, tzinfo=UTC))
        assert update.kind == "status_update", "this one uses today's single automatic message"
        for hour in (12, 13, 18, 23):
            assert await go(app, clock, datetime(2026, 11, 24, hour, tzinfo=UTC)) == []
        assert await go(app, clock, datetime(2026, 11, 25, 9, 29, tzinfo=UTC)) == []
        [apology] = await go(app, clock, datetime(2026, 11, 25, 9, 30, tzinfo=UTC))
        assert "resolved by Tue 24 Nov, 12:00 (UTC), and we missed that" in apology.text
        assert await go(app, clock, datetime(2026, 11, 25, 16, tzinfo=UTC)) == []


async def test_a_ticket_whose_update_fails_does_not_hold_up_the_others(
    settings_factory: Any, clock: FakeClock, tmp_path: Path
) -> None:
    folder = tmp_path / "texts"
    folder.mkdir()
    shipped = (ROOT / "core" / "templates" / "status_update.j2").read_text()
    # An operator's template with a mistake that only one ticket's data reaches.
    (folder / "status_update.j2").write_text(
        '{% if subject == "Boom" %}{{ no_such_variable }}{% endif %}' + shipped
    )
    settings = settings_factory(reminders={"templates_dir": str(folder)})
    async with desk(settings, clock) as app:
        await app.fake.say("quin", "Boom", message_id="m1")
        await app.fake.say("rae", "Fine", message_id="m2")
        await app.drain()
        sent = await go(app, clock, datetime(2026, 11, 24, 9, tzinfo=UTC))
        assert [(m.ticket_ref, m.kind) for m in sent] == [("T-2", "status_update")]
        broken = await app.show_ticket(1)
        assert broken["next_update_due"] == "2026-11-24T09:00:00Z", "rolled back, still owed"
        assert [e["kind"] for e in broken["events"]] == ["customer_message", "ack"]
        (folder / "status_update.j2").write_text(shipped)  # the operator fixes it
        app.ctx.texts.env.cache.clear()  # type: ignore[union-attr]
        [fixed] = await go(app, clock, datetime(2026, 11, 24, 9, 5, tzinfo=UTC))
        assert fixed.ticket_ref == "T-1" and fixed.kind == "status_update"

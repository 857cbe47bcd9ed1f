"""An ETA notice settles a few seconds: a newer one replaces it, so the customer gets one mail."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import select

from bot.app import App
from core.clock import FakeClock
from core.storage.models import EventKind, OutboxRow
from tests.fake_channel import FakeChannel, Sent


async def _opened(app: Any, fake: FakeChannel) -> None:
    """Carol writes in and is acknowledged; the test then looks only at what follows."""
    await fake.say("carol", "Invoices show the wrong VAT", message_id="m1")
    await app.drain()
    assert [s.message.kind for s in fake.sent] == [EventKind.ACK]
    fake.sent.clear()


async def _eta_rows(app: Any) -> list[OutboxRow]:
    async with app.db.sessions() as session:
        query = select(OutboxRow).where(OutboxRow.kind == EventKind.ETA_SET).order_by(OutboxRow.id)
        return list((await session.scalars(query)).all())


async def test_four_quick_eta_changes_send_the_customer_one_message_with_the_last(
    desk_app: Any, clock: FakeClock
) -> None:
    fake: FakeChannel = desk_app.fake
    await _opened(desk_app, fake)
    # An agent moves the ETA four times within seven seconds (Sunday, then Friday, ...).
    for when in ("2026-11-29 12:00", "2026-11-27 12:00", "2026-11-27 17:00", "2026-11-26 10:00"):
        assert (await desk_app.desk.run_as("alice", f"eta T-1 {when}")).ok
        await desk_app.drain()
        clock.advance(timedelta(seconds=2))
    assert fake.sent == [], "each notice waits a moment for a newer one"
    clock.advance(desk_app.settings.reminders.settle)
    await desk_app.drain()

    [told] = fake.sent
    assert told.target.address == "carol" and told.message.kind == EventKind.ETA_SET
    assert "we expect this to be resolved by Thu 26 Nov, 10:00 (UTC)" in told.message.text
    clock.advance(timedelta(hours=1))
    await desk_app.drain()
    assert len(fake.sent) == 1, "the replaced notices are never sent"
    rows = await _eta_rows(desk_app)
    assert [row.status for row in rows] == ["cancelled", "cancelled", "cancelled", "sent"]
    for older, newer in pairwise(rows):
        assert f"superseded by outbox row {newer.id}" in older.last_error
    # The timeline still shows every estimate the agent gave.
    events = (await desk_app.show_ticket(1))["events"]
    assert [e["kind"] for e in events].count(EventKind.ETA_SET) == 4


async def test_an_eta_notice_goes_out_after_the_configured_settle(
    settings_factory: Any, clock: FakeClock
) -> None:
    fake = FakeChannel()
    settings = settings_factory(reminders={"settle": "30s"})
    async with App(settings, clock=clock, channels=[fake], background=False) as app:
        await _opened(app, fake)
        assert (await app.desk.run_as("alice", "eta T-1 2026-11-24 12:00")).ok
        clock.advance(timedelta(seconds=29))
        await app.drain()
        assert fake.sent == []
        clock.advance(timedelta(seconds=1))
        await app.drain()
        assert [s.message.kind for s in fake.sent] == [EventKind.ETA_SET]


async def test_resolving_before_an_eta_notice_went_out_sends_only_the_resolution(
    desk_app: Any, clock: FakeClock
) -> None:
    fake: FakeChannel = desk_app.fake
    await _opened(desk_app, fake)
    assert (await desk_app.desk.run_as("alice", "eta T-1 2026-11-24 12:00")).ok
    clock.advance(timedelta(seconds=1))
    assert (await desk_app.desk.run_as("alice", "resolve T-1 Fixed the VAT table.")).ok
    await desk_app.drain()
    clock.advance(timedelta(minutes=5))
    await desk_app.drain()
    assert [s.message.kind for s in fake.sent] == [EventKind.RESOLVED]
    assert "Fixed the VAT table." in fake.sent[0].message.text
    [row] = await _eta_rows(desk_app)
    assert row.status == "cancelled" and "superseded" in row.last_error


async def test_other_messages_to_the_customer_do_not_wait(desk_app: Any, clock: FakeClock) -> None:
    fake: FakeChannel = desk_app.fake
    await _opened(desk_app, fake)
    assert (await desk_app.desk.run_as("alice", "reply T-1 Looking at it now.")).ok
    await desk_app.drain()
    replies: list[Sent] = fake.sent
    assert [s.message.kind for s in replies] == [EventKind.AGENT_REPLY]


async def test_a_moved_eta_says_what_we_said_before_and_only_what_was_heard(
    desk_app: Any, clock: FakeClock
) -> None:
    fake: FakeChannel = desk_app.fake
    await _opened(desk_app, fake)
    settle = desk_app.settings.reminders.settle
    assert (await desk_app.desk.run_as("alice", "eta T-1 2026-11-29 12:00")).ok
    clock.advance(settle)
    await desk_app.drain()
    [sunday] = fake.sent
    assert "we expect this to be resolved by Sun 29 Nov, 12:00" in sunday.message.text
    fake.sent.clear()

    # The estimate moves from Sunday to Friday: the customer reads that it moved, and from what.
    assert (await desk_app.desk.run_as("alice", "eta T-1 2026-11-27 12:00")).ok
    clock.advance(settle)
    await desk_app.drain()
    [friday] = fake.sent
    assert (
        "we now expect this to be resolved by Fri 27 Nov, 12:00 (UTC) "
        "(earlier we said Sun 29 Nov, 12:00)" in friday.message.text
    )
    fake.sent.clear()

    # Moved twice within the settle: the middle estimate was never read, so it is not quoted.
    assert (await desk_app.desk.run_as("alice", "eta T-1 2026-11-26 12:00")).ok
    assert (await desk_app.desk.run_as("alice", "eta T-1 2026-11-25 12:00")).ok
    clock.advance(settle)
    await desk_app.drain()
    [last] = fake.sent
    assert "resolved by Wed 25 Nov, 12:00 (UTC)" in last.message.text
    assert "earlier we said" not in last.message.text

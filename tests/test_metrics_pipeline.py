"""The /metrics counters move as the desk works: a mail, its duplicate, a reply, an agent's
answer in time, an update the desk owed too late, a missed ETA, and each acknowledgement's
time from receipt to send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from core.clock import FakeClock
from core.metrics import REGISTRY
from core.on_commit import on_commit
from tests.fake_channel import FakeChannel


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _inbound(outcome: str) -> float:
    return _value("tidings_inbound_messages_total", channel="fake", outcome=outcome)


def _settled(kind: str, result: str) -> float:
    return _value("tidings_promises_settled_total", kind=kind, result=result)


def _snapshot() -> dict[str, float]:
    names = ("accepted", "duplicate", "opened", "joined", "reopened", "auto_reply", "agent")
    counts = {outcome: _inbound(outcome) for outcome in names}
    for kind in ("next_update", "eta"):
        for result in ("kept", "broken"):
            counts[f"{kind}.{result}"] = _settled(kind, result)
    counts["acks"] = _value("tidings_ack_seconds_count", channel="fake")
    counts["ack_seconds"] = _value("tidings_ack_seconds_sum", channel="fake")
    return counts


def _moved(before: dict[str, float]) -> dict[str, float]:
    after = _snapshot()
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


async def test_a_mail_its_duplicate_and_a_reply(desk_app: Any, clock: FakeClock) -> None:
    fake: FakeChannel = desk_app.fake
    before = _snapshot()
    assert await fake.say("carol", "Invoices export as empty PDFs", message_id="m1")
    assert not await fake.say("carol", "Invoices export as empty PDFs", message_id="m1")
    clock.advance(timedelta(seconds=30))  # the desk takes its time: the ack says so
    await desk_app.drain()
    assert [s.message.kind for s in fake.sent] == ["ack"]
    assert _moved(before) == {
        "accepted": 1, "duplicate": 1, "opened": 1, "acks": 1, "ack_seconds": 30.0,
    }  # fmt: skip

    before = _snapshot()
    assert await fake.say("carol", "Still empty this morning", message_id="m2", thread="m1")
    assert await fake.say("carol", "I am away", message_id="m3", thread="m1", kind="auto_reply")
    await desk_app.drain()
    assert _moved(before) == {"accepted": 2, "joined": 1, "auto_reply": 1}


async def test_promises_kept_and_broken_are_counted_once_settled(
    desk_app: Any, clock: FakeClock
) -> None:
    fake: FakeChannel = desk_app.fake
    clock.set(at(23, 9))
    await fake.say("dan", "VPN drops every few minutes", message_id="m1")
    await desk_app.drain()  # the ack promises an update by Tue 24 Nov, 09:00

    before = _snapshot()
    clock.set(at(23, 14))
    assert (await desk_app.desk.run_as("alice", "reply T-1 Looking at the logs now.")).ok
    await desk_app.drain()
    assert _moved(before) == {"next_update.kept": 1}, "answered before it was due"

    # The desk was down all Tuesday morning: the update promised for 14:00 goes out at 17:00.
    before = _snapshot()
    clock.set(at(24, 17))
    await desk_app.drain()
    assert fake.sent[-1].message.kind == "status_update"
    assert _moved(before) == {"next_update.broken": 1}

    before = _snapshot()
    assert (await desk_app.desk.run_as("alice", "eta T-1 2026-11-24 18:00")).ok
    clock.set(at(24, 18, 30))
    await desk_app.drain()
    assert fake.sent[-1].message.kind == "apology"
    moved = _moved(before)
    assert moved.pop("eta.broken") == 1
    assert set(moved) <= {"next_update.kept"}, "the ETA notice itself answers the update owed"


async def test_a_refused_command_counts_no_promise(desk_app: Any, clock: FakeClock) -> None:
    await desk_app.fake.say("erin", "Cannot log in", message_id="m1")
    await desk_app.drain()
    before = _snapshot()
    assert not (await desk_app.desk.run_as("alice", "reply T-99 Nobody is there.")).ok
    assert _moved(before) == {}


async def test_what_a_rollback_undid_is_never_reported() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    told: list[str] = []
    async with AsyncSession(engine) as session:
        async with session.begin():
            on_commit(session, lambda: told.append("before the savepoint"))
            try:
                async with session.begin_nested():
                    on_commit(session, lambda: told.append("in a failed savepoint"))
                    await session.execute(text("select 1"))
                    raise LookupError("this row fails alone")
            except LookupError:
                pass
            async with session.begin_nested():
                on_commit(session, lambda: told.append("in a released savepoint"))
            assert told == [], "nothing is told before the commit"
        assert told == ["before the savepoint", "in a released savepoint"]
        try:
            async with session.begin():
                on_commit(session, lambda: told.append("rolled back"))
                raise LookupError("the whole transaction fails")
        except LookupError:
            pass
        async with session.begin():
            on_commit(session, lambda: told.append("the next transaction"))
    await engine.dispose()
    assert told[2:] == ["the next transaction"]

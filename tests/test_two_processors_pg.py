"""Two processes on one PostgreSQL: one conversation still makes one ticket and one ack.

Each App here has its own Database, so its own connection pool: to the server they are two
clients exactly as two `tidings run` processes are (sessions, locks and snapshots are per
connection). Running them in one test process is what lets the test stop one of them inside
its transaction at the dangerous moment, deterministically.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.util import await_only

from bot.app import App
from core.clock import FakeClock
from core.context import Context
from core.intake.opening import NewTicket
from core.storage.models import OutboxRow
from tests.fake_channel import FakeChannel


def _pause_first_opening(
    monkeypatch: pytest.MonkeyPatch, reached: asyncio.Event, release: asyncio.Event
) -> None:
    """The first grouped opening stops after its statements, before its commit."""
    import core.intake.opening

    real: Callable[..., list[int]] = core.intake.opening.open_tickets_now
    calls = 0

    async def wait() -> None:
        reached.set()
        await release.wait()

    def paused(ctx: Context, connection: Connection, items: Sequence[NewTicket]) -> list[int]:
        nonlocal calls
        calls += 1
        ticket_ids = real(ctx, connection, items)
        if calls == 1:
            await_only(wait())  # run_sync's greenlet: waits on the event loop, mid-transaction
        return ticket_ids

    # Wherever the grouped opening is called from.
    import core.intake.processor

    monkeypatch.setattr(core.intake.opening, "open_tickets_now", paused)
    monkeypatch.setattr(core.intake.processor, "open_tickets_now", paused)


async def _someone_waits_for_a_lock(app: App) -> bool:
    async with app.db.sessions() as session:
        waiting = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


async def test_a_reply_applied_while_the_opening_is_uncommitted_joins_its_ticket(
    database_url: str, settings_factory: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time; this is about PostgreSQL's many")
    reached, release = asyncio.Event(), asyncio.Event()
    _pause_first_opening(monkeypatch, reached, release)
    one, two = FakeChannel(), FakeChannel()
    settings = settings_factory()
    async with (
        App(settings, clock=clock, channels=[one], background=False, web_enabled=False) as first,
        App(settings, clock=clock, channels=[two], background=False, web_enabled=False) as second,
    ):
        await one.say("carol", "Laptop will not boot", message_id="m1")
        opening = asyncio.create_task(first.desk.processor.process_pending())
        async with asyncio.timeout(30):
            await reached.wait()
        # Carol's follow-up reaches the other process while T-1 is not yet committed.
        await two.say("carol", "It shows a blinking cursor", message_id="m2", thread="m1")
        reply = asyncio.create_task(second.desk.processor.process_pending())
        # It finishes, or it waits for the first one's locks (which one depends on the code).
        for _ in range(600):  # polling the server's view: at most 30 s
            if reply.done() or await _someone_waits_for_a_lock(first):
                break
            await asyncio.sleep(0.05)
        release.set()
        async with asyncio.timeout(30):
            await asyncio.gather(opening, reply)
        await first.drain()

        [ticket] = await first.list_tickets()
        said = [e["text"] for e in (await first.show_ticket(ticket["number"]))["events"]
                if e["kind"] == "customer_message"]  # fmt: skip
        assert said == ["Laptop will not boot", "It shows a blinking cursor"]
        async with first.db.sessions() as session:
            acks = await session.scalar(
                select(func.count()).select_from(OutboxRow).where(OutboxRow.kind == "ack")
            )
        assert acks == 1
        assert len(one.texts_to("carol")) == 1

"""Two promise-loop processes on one PostgreSQL database send every reminder exactly once."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs TIDINGS_TEST_DATABASE_URL (CI sets it)")

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
DUE = 300  # tickets owed a status update
MISSED = 80  # of those, tickets whose ETA has just been missed: they get the apology instead
NUDGED = 60  # tickets whose update is due in five minutes: agents are nudged once for each
TOTAL = DUE + NUDGED
ROUNDS = 3  # each worker ticks this many times more after it finds nothing: late ticks are safe


@pytest.fixture
def pg_url() -> Iterator[str]:
    from tests.conftest import _pg_database

    yield from _pg_database()


def _settings(url: str) -> Any:
    from core.config import load_settings

    return load_settings(None, database={"url": url}, email={"enabled": False})


async def _seed(url: str) -> None:
    from core.storage.db import Database
    from core.storage.models import Contact, Promise, Ticket

    db = Database(url)
    await db.upgrade()
    made = NOW - timedelta(days=1)

    async def work(session: AsyncSession) -> None:
        await session.execute(
            insert(Contact),
            [{"channel": "fake", "address": f"c{i}", "name": "", "created_at": made}
             for i in range(TOTAL)],
        )  # fmt: skip
        contacts = (await session.scalars(select(Contact.id).order_by(Contact.id))).all()
        await session.execute(
            insert(Ticket),
            [
                {"status": "open", "priority": "normal", "subject": f"Problem {i}",
                 "requester_id": contacts[i], "reply_channel": "fake", "reply_address": f"c{i}",
                 "reply_thread": f"m{i}", "waiting_on": "", "created_at": made,
                 "updated_at": made, "eta": NOW - timedelta(minutes=30) if i < MISSED else None,
                 "next_update_due": NOW + timedelta(minutes=5) if i >= DUE
                 else NOW - timedelta(minutes=i % 7)}
                for i in range(TOTAL)
            ],
        )  # fmt: skip
        tickets = (await session.scalars(select(Ticket.id).order_by(Ticket.id))).all()
        await session.execute(
            insert(Promise),
            [{"ticket_id": t, "kind": "next_update", "due_at": NOW, "made_at": made}
             for t in tickets]
            + [{"ticket_id": t, "kind": "eta", "due_at": NOW - timedelta(minutes=30),
                "made_at": made} for t in tickets[:MISSED]],
        )  # fmt: skip

    await db.write(work)
    await db.dispose()


def _worker(url: str, go: Any, results: Any) -> None:
    """One OS process: its own engine, pool and promise loop, on the shared database."""
    asyncio.run(_work(url, go, results))


async def _work(url: str, go: Any, results: Any) -> None:
    from core.clock import FakeClock
    from core.context import Context
    from core.promises.loop import PromiseLoop
    from core.storage.db import Database

    db = Database(url)
    loop = PromiseLoop(db, Context(_settings(url), FakeClock(NOW)), batch=4)
    go.wait(30)
    done, idle = 0, 0
    while idle < ROUNDS:
        acted = await loop.tick()
        done += acted
        idle = idle + 1 if acted == 0 else 0
    await db.dispose()
    results.put(done)


async def _record(url: str) -> tuple[list[tuple[int, str]], list[int]]:
    """(ticket, kind) of every outbox row, and the ticket of every nudge on a timeline."""
    from core.storage.db import Database
    from core.storage.models import OutboxRow, TicketEvent

    db = Database(url)
    async with db.sessions() as session:
        rows = (await session.execute(select(OutboxRow.ticket_id, OutboxRow.kind))).all()
        nudges = (
            await session.scalars(select(TicketEvent.ticket_id).where(TicketEvent.kind == "nudge"))
        ).all()
    await db.dispose()
    return [(ticket_id, kind) for ticket_id, kind in rows], list(nudges)


def test_two_worker_processes_send_each_reminder_once(pg_url: str) -> None:
    asyncio.run(_seed(pg_url))
    spawn = multiprocessing.get_context("spawn")
    go, results = spawn.Event(), spawn.Queue()
    workers = [spawn.Process(target=_worker, args=(pg_url, go, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    go.set()
    counts = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0

    rows, nudges = asyncio.run(_record(pg_url))
    per_ticket = Counter(ticket_id for ticket_id, _ in rows)
    assert len(per_ticket) == DUE and set(per_ticket.values()) == {1}, "one message per ticket"
    kinds = Counter(kind for _, kind in rows)
    assert kinds == {"apology": MISSED, "status_update": DUE - MISSED}
    assert sorted(Counter(nudges).values()) == [1] * NUDGED, "one nudge per upcoming update"
    assert sum(counts) == TOTAL, f"the workers' own counts add up: {counts}"
    print(f"\nworkers sent {counts} of {TOTAL} reminders and nudges")

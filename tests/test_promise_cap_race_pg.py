"""Two promise loops on one PostgreSQL database never give a customer more than the daily cap."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Audience
from core.clock import FakeClock
from core.config import load_settings
from core.context import Context
from core.promises.loop import PromiseLoop
from core.storage.db import Database
from core.storage.models import Contact, EventKind, OutboxRow, OutboxStatus, Promise, Ticket
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs TIDINGS_TEST_DATABASE_URL (CI sets it)")

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
CAP = 4
CUSTOMERS = 60  # each at the edge of the cap (three sent today) with two tickets owed an update
IDLE_TICKS = 3  # each loop ticks this many times more after it finds nothing


@pytest.fixture
def pg_url() -> Iterator[str]:
    from tests.conftest import _pg_database

    yield from _pg_database()


def _settings(url: str) -> Any:
    return load_settings(
        None, database={"url": url}, email={"enabled": False},
        reminders={"max_automatic_per_day": CAP},
    )  # fmt: skip


async def _seed(db: Database) -> None:
    made = NOW - timedelta(days=2)

    async def work(session: AsyncSession) -> None:
        await session.execute(insert(Contact), [
            {"channel": "fake", "address": f"c{i}", "name": "", "created_at": made}
            for i in range(CUSTOMERS)
        ])  # fmt: skip
        contacts = (await session.scalars(select(Contact.id).order_by(Contact.id))).all()
        # A customer's two tickets sit next to each other in the due order, so two loops
        # taking one ticket each at a time get one each.
        await session.execute(insert(Ticket), [
            {"status": "open", "priority": "normal", "subject": f"Problem {n}",
             "requester_id": contacts[n // 2], "reply_channel": "fake", "reply_address": f"c{n}",
             "reply_thread": "", "waiting_on": "", "created_at": made, "updated_at": made,
             "next_update_due": NOW - timedelta(minutes=1)}
            for n in range(2 * CUSTOMERS)
        ])  # fmt: skip
        tickets = (await session.scalars(select(Ticket.id).order_by(Ticket.id))).all()
        await session.execute(insert(Promise), [
            {"ticket_id": t, "kind": "next_update", "due_at": NOW - timedelta(minutes=1),
             "made_at": made} for t in tickets
        ])  # fmt: skip
        await session.execute(insert(OutboxRow), [
            {"ticket_id": tickets[2 * i], "contact_id": contact, "channel": "fake",
             "address": f"c{i}", "audience": Audience.CUSTOMER.value,
             "kind": EventKind.STATUS_UPDATE.value, "automatic": True,
             "token": f"earlier-{i}-{k}", "message": "{}", "status": OutboxStatus.SENT.value,
             "next_attempt_at": NOW - timedelta(hours=k + 1),
             "created_at": NOW - timedelta(hours=k + 1)}
            for i, contact in enumerate(contacts) for k in range(CAP - 1)
        ])  # fmt: skip

    await db.write(work)


async def _run_loop(url: str) -> int:
    db = Database(url)
    loop = PromiseLoop(db, Context(_settings(url), FakeClock(NOW)), batch=1)
    done, idle = 0, 0
    try:
        while idle < IDLE_TICKS:
            acted = await loop.tick()
            done += acted
            idle = idle + 1 if acted == 0 else 0
    finally:
        await db.dispose()
    return done


async def _race(url: str) -> tuple[list[int], Counter[int]]:
    db = Database(url)
    await db.upgrade()
    await _seed(db)
    counts = await asyncio.wait_for(asyncio.gather(_run_loop(url), _run_loop(url)), timeout=120)
    async with db.sessions() as session:
        rows = await session.scalars(
            select(OutboxRow.contact_id).where(
                OutboxRow.automatic.is_(True),
                OutboxRow.audience == Audience.CUSTOMER.value,
                OutboxRow.created_at > NOW - timedelta(days=1),
            )
        )
        per_customer = Counter(contact for contact in rows if contact is not None)
    await db.dispose()
    return list(counts), per_customer


def test_two_loops_racing_hold_every_customer_to_the_cap(pg_url: str) -> None:
    counts, per_customer = asyncio.run(_race(pg_url))
    over = sorted(contact for contact, sent in per_customer.items() if sent > CAP)
    assert over == [], f"{len(over)} of {CUSTOMERS} customers got more than {CAP} in a day"
    assert sorted(per_customer.values()) == [CAP] * CUSTOMERS, "each got the one message left"
    assert sum(counts) == CUSTOMERS, f"the loops' own counts add up: {counts}"

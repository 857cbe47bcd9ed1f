"""Statistics benchmark: `tidings stats` over 1M tickets and 5M events, and a /metrics scrape.

Run by hand: `.venv/bin/python -m bench.stats [--tickets N] [--database-url URL]`.
Each figure is printed beside a plain `SELECT count(*)` over the same table in the same run:
the statistics read the tickets, promises and the window's events once each, so they should
cost a small multiple of counting the events; the scrape reads index ranges only, so it should
cost far less than counting the tickets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, text

from core import metrics
from core.stats.report import stats_figures
from core.storage.db import Database
from core.storage.models import Contact, Promise, Ticket, TicketEvent, table_of

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DAYS = 365
EVENTS_PER_TICKET = 5
CHUNK = 50_000
ROUNDS = 3
KINDS = ("customer_message", "ack", "agent_reply", "status_update", "resolved")
CHANNELS = ("email", "slack", "discord")


def _tickets(count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """A year of tickets, oldest first; 2% still open (the backlog)."""
    for number in range(1, count + 1):
        created = NOW - timedelta(seconds=DAYS * 86400 * (count - number) / count)
        active = rng.random() < 0.02
        resolved = None if active else created + timedelta(seconds=rng.randrange(600, 5 * 86400))
        yield {
            "id": number, "status": "open" if active else "closed", "priority": "normal",
            "subject": "bench", "requester_id": 1, "reply_channel": rng.choice(CHANNELS),
            "reply_address": "x", "reply_thread": "", "waiting_on": "", "created_at": created,
            "updated_at": created,
            "first_response_at": created + timedelta(seconds=rng.randrange(60, 86400)),
            "resolved_at": resolved if resolved and resolved < NOW else None,
            "next_update_due": created + timedelta(days=1) if active else None,
        }  # fmt: skip


def _events(count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for number in range(1, count + 1):
        created = NOW - timedelta(seconds=DAYS * 86400 * (count - number) / count)
        for step, kind in enumerate(KINDS[:EVENTS_PER_TICKET]):
            if step == 3 and rng.random() < 0.05:
                kind = "apology"
            yield {
                "ticket_id": number, "kind": kind, "visibility": "public", "author": "",
                "text": "bench text", "at": created + timedelta(minutes=step),
                "channel": "", "external_id": "",
            }  # fmt: skip


def _promises(count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for number in range(1, count + 1):
        made = NOW - timedelta(seconds=DAYS * 86400 * (count - number) / count)
        for kind in ("next_update", "next_update", "eta")[: rng.randrange(1, 4)]:
            settled = made + timedelta(hours=rng.randrange(1, 30))
            yield {
                "ticket_id": number, "kind": kind, "due_at": made + timedelta(hours=24),
                "made_at": made, "kept": settled <= made + timedelta(hours=24),
                "settled_at": settled if settled < NOW else None, "settled_by": "bench",
            }  # fmt: skip


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def seed(db: Database, tickets: int) -> None:
    rng = random.Random(14)

    def contact(connection: Connection) -> None:
        connection.execute(insert(table_of(Contact)), [
            {"id": 1, "channel": "email", "address": "x", "name": "", "created_at": NOW}
        ])  # fmt: skip

    await db.write(contact)
    for model, rows in ((Ticket, _tickets), (TicketEvent, _events), (Promise, _promises)):
        started = time.perf_counter()
        for chunk in _chunks(rows(tickets, rng)):
            table = table_of(model)
            await db.write(lambda c, chunk=chunk, table=table: c.execute(insert(table), chunk))
        print(f"  seeded {model.__tablename__} in {time.perf_counter() - started:.0f} s")
    async with db.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """Median wall time of ROUNDS runs, and the last result."""
    times, result = [], None
    for _ in range(ROUNDS):
        started = time.perf_counter()
        result = await work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


async def count(db: Database, table: str) -> int:
    async with db.sessions() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def scrape(db: Database) -> bytes:
    return await metrics.scrape(db, NOW)


def cli_stats(url: str) -> float:
    """`tidings stats --json --since 30d` as an operator runs it: a process of its own."""
    env = {**os.environ, "TIDINGS_DATABASE__URL": url}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "stats", "--json"], env=env, capture_output=True, check=True
    )
    elapsed = time.perf_counter() - started
    json.loads(done.stdout)
    return elapsed


# Indexes the figures could use; not in the schema (each costs every insert). Measured here so
# the trade can be judged: --with-indexes times the same figures again with them in place.
PROPOSED = (
    "CREATE INDEX bench_tickets_created ON tickets (created_at)",
    "CREATE INDEX bench_tickets_resolved ON tickets (resolved_at)",
    "CREATE INDEX bench_events_kind_at ON ticket_events (kind, at)",
    "CREATE INDEX bench_promises_made ON promises (made_at)",
    "CREATE INDEX bench_promises_settled ON promises (settled_at)",
)


async def measure(db: Database, label: str) -> None:
    baseline_events, events = await timed(lambda: count(db, "ticket_events"))
    scan, _ = await timed(lambda: count(db, "ticket_events WHERE length(text) >= 0"))
    print(f"{label}: SELECT count(*) over {events:,} events {baseline_events * 1000:.0f} ms; "
          f"the same reading every row {scan * 1000:.0f} ms")  # fmt: skip
    for since in ("30d", "365d"):
        took, figures = await timed(lambda s=since: stats_figures(db, NOW, s))
        print(f"  stats --since {since:>4}: {took * 1000:7.0f} ms  (x{took / baseline_events:.0f} "
              f"the count, x{took / scan:.1f} the row scan); opened "
              f"{figures['tickets']['opened']:,}")  # fmt: skip


async def with_indexes(db: Database) -> None:
    async with db.engine.begin() as connection:
        for statement in PROPOSED:
            await connection.execute(text(statement))
        await connection.execute(text("ANALYZE"))
    try:
        await measure(db, "with the proposed indexes")
    finally:
        async with db.engine.begin() as connection:
            for statement in PROPOSED:
                name = statement.split()[2]
                await connection.execute(text(f"DROP INDEX {name}"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="", help="reused when it already has tickets")
    parser.add_argument("--with-indexes", action="store_true", help="also time with PROPOSED")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
        db = Database(url)
        await db.upgrade()
        if await count(db, "tickets"):
            print("reusing the tickets already in the database")
        else:
            await seed(db, args.tickets)
        tickets, events = await count(db, "tickets"), await count(db, "ticket_events")
        print(f"{tickets:,} tickets, {events:,} events on {db.engine.dialect.name}")
        await measure(db, "schema as shipped")
        baseline_tickets, _ = await timed(lambda: count(db, "tickets"))
        took, body = await timed(lambda: scrape(db))
        print(f"/metrics scrape: {took * 1000:.1f} ms  (SELECT count(*) over tickets: "
              f"{baseline_tickets * 1000:.0f} ms); {len(body):,} bytes")  # fmt: skip
        if db.is_sqlite:
            print(f"`tidings stats --json` as a process: {cli_stats(url):.2f} s wall")
        if args.with_indexes:
            await with_indexes(db)
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())

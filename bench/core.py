"""Core benchmarks: inbox persist rate vs raw sqlite3; due-outbox claim at 10k and 1M rows.

Run by hand from the repository root: `.venv/bin/python -m bench.core [--quick]`. Every figure
is printed next to a baseline measured in the same run, because these machines are shared and
noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.channel import RawInbound
from core.clock import FakeClock
from core.config import load_settings
from core.context import Context
from core.delivery.worker import DeliveryWorker
from core.intake.writer import InboxWriter
from core.storage.db import Database

PAYLOAD = b"From: carol@example.com\r\nSubject: VPN\r\n\r\n" + b"x" * 1500


def raw_sqlite_baseline(folder: Path, rows: int, synchronous: str) -> float:
    """Rows/s for one INSERT + COMMIT per row with the stdlib driver (no ORM, no asyncio)."""
    connection = sqlite3.connect(folder / f"raw-{synchronous}.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous}")
    connection.execute(
        "CREATE TABLE inbox (id INTEGER PRIMARY KEY, channel TEXT, external_id TEXT, "
        "payload BLOB, received_at TEXT, UNIQUE(channel, external_id))"
    )
    start = time.perf_counter()
    for n in range(rows):
        connection.execute("BEGIN")
        connection.execute(
            "INSERT INTO inbox (channel, external_id, payload, received_at) VALUES (?,?,?,?)",
            ("email", f"<{n}@bench>", PAYLOAD, "2026-11-23 09:00:00"),
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return rows / elapsed


async def inbox_rate(folder: Path, rows: int, concurrency: int) -> tuple[float, float]:
    """Rows/s through InboxWriter.put with `concurrency` callers waiting at once; avg batch."""
    db = Database(f"sqlite+aiosqlite:///{folder}/inbox-{concurrency}.db")
    await db.upgrade()
    writer = InboxWriter(db, lambda: datetime.now(UTC))
    counter = iter(range(rows))

    async def producer() -> None:
        for n in counter:
            await writer.put(RawInbound("email", f"<{n}@bench>", PAYLOAD))

    start = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await db.dispose()
    return rows / elapsed, rows / max(writer.batches, 1)


def fill_outbox(path: Path, pending: int, due: int, now: datetime) -> None:
    """Bulk-load `pending` future rows plus `due` rows that are due now (raw executemany)."""
    connection = sqlite3.connect(path)
    future = (now + timedelta(days=1)).replace(tzinfo=None).isoformat(sep=" ")
    past = (now - timedelta(minutes=1)).replace(tzinfo=None).isoformat(sep=" ")
    created = now.replace(tzinfo=None).isoformat(sep=" ")

    def rows(start: int, count: int, when: str):  # type: ignore[no-untyped-def]
        head = (None, None, None, "email", "carol@example.com", "", "customer", "status_update", 1)
        for n in range(start, start + count):
            yield (*head, f"tok{n}", "{}", "pending", 0, when, "", None, "", "", created, None)

    sql = (
        "INSERT INTO outbox (ticket_id, event_id, contact_id, channel, address, thread, audience,"
        " kind, automatic, token, message, status, attempts, next_attempt_at, lease_owner,"
        " lease_until, last_error, external_id, created_at, sent_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    connection.executemany(sql, rows(0, pending, future))
    connection.executemany(sql, rows(pending, due, past))
    connection.commit()
    connection.close()


async def claim_time(folder: Path, pending: int, due: int = 50, repeats: int = 5) -> float:
    """Median seconds for one claim of the due batch among `pending` not-yet-due rows."""
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    url = f"sqlite+aiosqlite:///{folder}/outbox-{pending}.db"
    db = Database(url)
    await db.upgrade()
    await db.dispose()
    fill_outbox(folder / f"outbox-{pending}.db", pending, due * (repeats + 1), now)
    db = Database(url)
    ctx = Context(load_settings(None, database={"url": url}), FakeClock(now))
    worker = DeliveryWorker(db, ctx, {}, batch=due)
    await worker.claim()  # warm up the connection pool and statement cache
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        claimed = await worker.claim()
        timings.append(time.perf_counter() - start)
        assert len(claimed) == due, len(claimed)
    await db.dispose()
    return sorted(timings)[len(timings) // 2]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100k instead of 1M outbox rows")
    args = parser.parse_args()
    big = 100_000 if args.quick else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("== inbox persist (durable: WAL, synchronous=FULL, one fsync per commit) ==")
        raw_full = raw_sqlite_baseline(folder, 2000, "FULL")
        raw_normal = raw_sqlite_baseline(folder, 5000, "NORMAL")
        print(f"baseline raw sqlite3, commit per row, synchronous=FULL  : {raw_full:9.0f} rows/s")
        print(f"baseline raw sqlite3, commit per row, synchronous=NORMAL: {raw_normal:9.0f} rows/s")
        for concurrency in (1, 16, 128):
            rate, batch = await inbox_rate(folder, 6000 if concurrency > 1 else 1000, concurrency)
            print(f"tidings inbox, {concurrency:3d} concurrent senders: {rate:9.0f} rows/s "
                  f"(avg batch {batch:5.1f}) = {rate / raw_full:5.2f}x raw FULL, "
                  f"{rate / raw_normal:5.2f}x raw NORMAL")  # fmt: skip
        print("== due-outbox claim (50 due rows among N pending, median of 5) ==")
        small = await claim_time(folder, 10_000)
        large = await claim_time(folder, big)
        print(f"claim with 10k pending : {small * 1000:7.2f} ms")
        print(f"claim with {big // 1000}k pending: {large * 1000:7.2f} ms = {large / small:4.2f}x")
        await search_benchmark(folder)


async def search_benchmark(folder: Path) -> None:
    """`search <words>` at 10k and 100k tickets: the text index against LIKE (bench.search)."""
    from bench.search import search_section

    await search_section(folder)


if __name__ == "__main__":
    asyncio.run(main())

"""Promise-loop benchmark: tick time at 10k vs 1M open tickets, reminders/s, memory at 100k.

Run by hand: `.venv/bin/python -m bench.reminders [--quick] [--database-url URL]`.
Each size gets the same due set (updates, missed ETAs, nudges), so the tick time compares how
the loop finds work among many open tickets: with the indexes it should barely move. The memory
figure comes from a fresh child process running the app over the 100k database, printed next
to the same child over an empty database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from core.clock import FakeClock
from core.config import load_settings
from core.context import Context
from core.promises.loop import ETA_LOOKBACK, ETA_MARGIN, PromiseLoop
from core.storage.db import Database
from core.storage.models import Promise, Ticket

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
WARM = NOW - timedelta(hours=2)  # a first tick at this time warms caches on a small set
DUE, MISSED, NUDGES, WARMUP = 200, 50, 100, 20
ROUNDS, SPACING = 3, timedelta(hours=3)  # three due cohorts, one measured tick each
COHORT = DUE + NUDGES
# Each round also sends the updates the previous round nudged for; round 0 gets an equal set.
EARLIER = ROUNDS * COHORT + NUDGES
SPECIAL = EARLIER + WARMUP  # tickets with a part in the measurement, each its own person
PER_TICK = DUE + 2 * NUDGES  # actions in every measured tick
CHUNK = 50_000


def round_time(r: int) -> datetime:
    return NOW + r * SPACING


def ticket_rows(count: int, contacts: int, rng: random.Random) -> Any:
    """Open tickets: the due cohorts and warm-up set first, then the rest, owed updates later."""
    made = NOW - timedelta(days=2)
    later = round_time(ROUNDS)
    for i in range(count):
        eta = apologised = None
        if i < ROUNDS * COHORT:
            moment, j = round_time(i // COHORT), i % COHORT
            if j < DUE:
                due = moment - timedelta(minutes=rng.randrange(60))
                eta = moment - timedelta(minutes=5) if j < MISSED else None
            else:
                due = moment + timedelta(minutes=1 + rng.randrange(13))  # a nudge, not yet due
        elif i < EARLIER:
            due = NOW - timedelta(minutes=1 + rng.randrange(13))
        elif i < SPECIAL:
            due = WARM - timedelta(minutes=1)
        else:
            due = later + timedelta(minutes=rng.randrange(3 * 24 * 60))
            if i % 10 == 0:
                eta = later + timedelta(hours=1 + rng.randrange(72))
            elif i % 100 == 1:
                # Already apologised for: history the ETA scan must not keep reading.
                eta = apologised = NOW - timedelta(days=rng.randrange(1, 30))
        yield {
            "status": ("new", "open", "waiting")[i % 3],
            # Day-long cadences, so one round's updates are not due again in the next round.
            "priority": ("normal", "low")[i % 2],
            "subject": f"Problem {i}",
            "requester_id": 1 + (i % contacts),
            "reply_channel": "email",
            "reply_address": f"c{i % contacts}@example.com",
            "reply_thread": f"<{i}@example.com>",
            "waiting_on": "the vendor" if i % 3 == 2 else "",
            "assignee": "alice" if i % 2 else None,
            "created_at": made,
            "updated_at": made,
            "next_update_due": due,
            "eta": eta,
            "eta_apologized": apologised,
        }


TICKET_COLUMNS = ("status", "priority", "subject", "requester_id", "reply_channel",
                  "reply_address", "reply_thread", "waiting_on", "assignee", "created_at",
                  "updated_at", "next_update_due", "eta", "eta_apologized")  # fmt: skip


async def build(url: str, count: int) -> None:
    """A database with `count` open tickets, written with the driver's executemany in chunks."""
    db = Database(url)
    await db.upgrade()
    rng = random.Random(count)
    contacts = max(count // 4, SPECIAL)
    made = NOW - timedelta(days=30)

    def stamp(value: Any) -> Any:
        # What UTCDateTime would bind: naive UTC text on SQLite, the aware value on PostgreSQL.
        if isinstance(value, datetime) and db.is_sqlite:
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def statement(table: str, columns: tuple[str, ...]) -> str:
        marks = ", ".join("?" if db.is_sqlite else f"${n}" for n in range(1, len(columns) + 1))
        return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"

    contact_sql = statement("contacts", ("channel", "address", "name", "created_at"))
    ticket_sql = statement("tickets", TICKET_COLUMNS)
    async with db.engine.begin() as connection:
        await connection.exec_driver_sql(
            contact_sql,
            [("email", f"c{i}@example.com", f"C {i}", stamp(made)) for i in range(contacts)],
        )
    rows = ticket_rows(count, contacts, rng)
    while True:
        chunk = [tuple(stamp(row[c]) for c in TICKET_COLUMNS)
                 for _, row in zip(range(CHUNK), rows, strict=False)]  # fmt: skip
        if not chunk:
            break
        async with db.engine.begin() as connection:
            await connection.exec_driver_sql(ticket_sql, chunk)
    if count == 0:
        await db.dispose()
        return
    cohorts = range(ROUNDS * COHORT)
    promises = (
        [{"ticket_id": i + 1, "kind": "next_update", "due_at": NOW, "made_at": made}
         for i in range(SPECIAL)]
        + [{"ticket_id": i + 1, "kind": "eta", "made_at": made,
            "due_at": round_time(i // COHORT) - timedelta(minutes=5)}
           for i in cohorts if i % COHORT < MISSED]
    )  # fmt: skip
    await db.write(lambda connection: connection.execute(insert(Promise), promises))
    # A live database has statistics and (on PostgreSQL) a vacuumed heap; a fresh bulk load has
    # neither, and its first readers would pay for setting hint bits instead of finding work.
    async with db.engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("ANALYZE" if db.is_sqlite else "VACUUM ANALYZE")
    await db.dispose()


async def measure(url: str) -> dict[str, float]:
    """Warm-up tick, then per round: the find queries alone, and one full tick (medians)."""
    from core.promises.loop import _Cursor

    settings = load_settings(None, database={"url": url}, email={"enabled": False})
    clock = FakeClock(WARM)
    db = Database(url)
    loop = PromiseLoop(db, Context(settings, clock))
    warm = await loop.tick()
    assert warm == WARMUP, f"warm-up tick acted on {warm}"
    finds, ticks, cpus, acted, found = [], [], [], 0, 0
    for r in range(ROUNDS):
        now = clock.set(round_time(r))
        horizon = loop.ctx.calendar.add(now, settings.reminders.nudge_before)
        since = (loop.eta_scanned or now) - ETA_MARGIN
        start = time.perf_counter()
        found = 0
        async with db.sessions() as session:
            for kind in ("due", "eta"):
                query = loop._due_query(kind, now, horizon, _Cursor(), since)
                query = query.with_only_columns(Ticket.id).limit(10_000)
                found += len((await session.scalars(query)).all())
        finds.append(time.perf_counter() - start)
        start, cpu = time.perf_counter(), time.process_time()
        acted = await loop.tick()
        ticks.append(time.perf_counter() - start)
        # This process's CPU (every thread, the database writer's too): on a shared machine it
        # moves far less than the wall clock when other processes compete for the cores.
        cpus.append(time.process_time() - cpu)
        assert acted == PER_TICK, f"round {r} acted on {acted}, expected {PER_TICK}"
    # The first tick after a start reads every ETA of the last ETA_LOOKBACK days once.
    start = time.perf_counter()
    async with db.sessions() as session:
        query = loop._due_query("eta", now, horizon, _Cursor(), now - ETA_LOOKBACK)
        await session.scalars(query.with_only_columns(Ticket.id))
    first = time.perf_counter() - start
    await db.dispose()
    return {"found": found, "find_s": statistics.median(finds), "first_eta_s": first,
            "tick_s": statistics.median(ticks), "acted": acted,
            "tick_cpu_s": statistics.median(cpus)}  # fmt: skip


def memory_child(url: str) -> None:
    """Run the whole app (no channels) over the database for a few ticks; print peak RSS."""
    from bot.app import App

    async def run() -> None:
        settings = load_settings(None, database={"url": url}, email={"enabled": False})
        clock = FakeClock(NOW)
        app = App(settings, clock=clock, channels=[], background=False, web_enabled=False)
        async with app:
            for _ in range(5):
                await app.promises.tick()
                await app.desk.processor.process_pending()
                clock.advance(timedelta(minutes=5))

    asyncio.run(run())
    print(peak_rss_mb())


def peak_rss_mb() -> float:
    """This process image's high-water RSS. ru_maxrss would also count the parent's pages
    from before exec, which is exactly the noise a fresh child is meant to avoid."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_mb(url: str) -> float:
    done = subprocess.run(
        [sys.executable, __file__, "--memory-child", url],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return float(done.stdout.strip().splitlines()[-1])


def database_for(base: str, folder: Path, name: str, *, drop: bool = False) -> str:
    """A fresh database: a file under `folder`, or (re)created on PostgreSQL; or drop it."""
    if not base:
        return f"sqlite+aiosqlite:///{folder}/{name}.db"
    from sqlalchemy.engine import make_url

    admin = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)

    async def create() -> None:
        import asyncpg

        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not drop:
                await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k instead of 1M (a smoke run)")
    parser.add_argument("--database-url", default="", help="PostgreSQL base URL (default SQLite)")
    parser.add_argument("--memory-child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
    backend = "postgresql" if args.database_url else "sqlite"
    names = [f"bench_reminders_{count}" for count in sizes] + ["bench_reminders_empty"]
    with tempfile.TemporaryDirectory(prefix="tidings-bench-") as folder:
        try:
            run(args.database_url, Path(folder), backend, sizes)
        finally:
            if args.database_url:
                for name in names:
                    database_for(args.database_url, Path(folder), name, drop=True)


def run(base: str, folder: Path, backend: str, sizes: tuple[int, ...]) -> None:
    results = {}
    for count in sizes:
        url = database_for(base, folder, f"bench_reminders_{count}")
        began = time.perf_counter()
        asyncio.run(build(url, count))
        built = time.perf_counter() - began
        results[count] = r = asyncio.run(measure(url))
        print(f"{backend} {count:>9,} open tickets (built in {built:5.1f}s), median of {ROUNDS}: "
              f"find due {r['find_s'] * 1000:6.1f} ms ({r['found']} rows); "
              f"tick {r['tick_s'] * 1000:7.1f} ms for {r['acted']} reminders "
              f"= {r['acted'] / r['tick_s']:5.0f} reminders/s "
              f"({r['acted'] / r['tick_cpu_s']:5.0f} per CPU second); first ETA scan after a start "
              f"{r['first_eta_s'] * 1000:6.1f} ms", flush=True)  # fmt: skip
        if count == 100_000:
            memory_url = url
    small, big = results[sizes[0]], results[sizes[-1]]
    print(f"{sizes[-1]:,} vs {sizes[0]:,} open tickets: tick time "
          f"{big['tick_s'] / small['tick_s']:.2f}x (goal <= 2x), "
          f"find time {big['find_s'] / small['find_s']:.2f}x")  # fmt: skip
    empty = database_for(base, folder, "bench_reminders_empty")
    asyncio.run(build(empty, 0))
    idle, loaded = peak_mb(empty), peak_mb(memory_url)
    print(f"peak RSS of the app process: {loaded:.0f} MB with 100,000 open tickets, "
          f"{idle:.0f} MB with none ({loaded / idle:.2f}x; goal <= 150 MB)")  # fmt: skip


if __name__ == "__main__":
    main()

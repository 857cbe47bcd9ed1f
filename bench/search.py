"""Search benchmark: `search <words>` at 10k and 100k tickets, from the index and by LIKE.

Run by hand from the repository root: `.venv/bin/python -m bench.search` (bench.core runs it
too); with TIDINGS_BENCH_POSTGRESQL_URL (a server URL, as for the tests) also on PostgreSQL.
The baseline is what the index replaces: `LIKE '%word%'` over every message, measured on the
same database in the same run.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text

from core.commands.search import matching_ids, search_query
from core.storage.db import Database
from core.storage.models import Contact, Ticket, TicketEvent, table_of

STAMP = "2026-11-01 09:00:00.000000"
# In 10 tickets: LIKE reads every message. In one ticket of 20: LIKE, reading the newest
# first, stops after 20 hits, while the index reads all the matches and sorts them.
RARE, COMMON = "kerberos", "vpn"
_LIKE = text(
    "SELECT DISTINCT ticket_id FROM ticket_events WHERE kind IN "
    "('customer_message', 'agent_reply', 'note') AND text LIKE :pattern "
    "ORDER BY ticket_id DESC LIMIT 20"
)


def _vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(5000)]


def _sentence(rng: random.Random, words: list[str], count: int, extra: str = "") -> str:
    chosen = rng.choices(words, k=count)
    if extra:
        chosen.insert(rng.randrange(count), extra)
    return " ".join(chosen)


def _rows(
    tickets: int, seed: int = 15
) -> Iterator[tuple[tuple[object, ...], list[tuple[object, ...]]]]:
    """Each ticket with three events: the customer's message, an acknowledgement, a reply."""
    rng = random.Random(seed)
    words = _vocabulary(rng)
    rare = set(rng.sample(range(1, tickets + 1), 10))
    for number in range(1, tickets + 1):
        extra = RARE if number in rare else (COMMON if number % 20 == 0 else "")
        subject = _sentence(rng, words, 5)
        ticket = ("open", "normal", subject, 1, "email", "c@example.com", "", "", STAMP, STAMP)
        events = [
            (number, "customer_message", _sentence(rng, words, 40, extra), STAMP),
            (number, "ack", "We have your message and logged it. You will hear from us.", STAMP),
            (number, "agent_reply", _sentence(rng, words, 20), STAMP),
        ]
        yield ticket, events


def drop_index(path: Path) -> None:
    """The baseline database: the same tables with no text index and no triggers."""
    connection = sqlite3.connect(path)
    triggers = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%_fts_%'"
    ).fetchall()
    for (name,) in triggers:
        connection.execute(f'DROP TRIGGER "{name}"')
    connection.execute("DROP TABLE ticket_subject_fts")
    connection.execute("DROP TABLE ticket_event_fts")
    connection.commit()
    connection.close()


def fill(path: Path, tickets: int) -> float:
    """Seconds to load `tickets` tickets through the triggers that keep the index."""
    connection = sqlite3.connect(path)
    connection.execute(
        "INSERT INTO contacts (id, channel, address, name, created_at) "
        f"VALUES (1, 'email', 'c@example.com', 'Carol', '{STAMP}')"
    )
    start = time.perf_counter()
    ticket_rows: list[tuple[object, ...]] = []
    event_rows: list[tuple[object, ...]] = []
    for ticket, events in _rows(tickets):
        ticket_rows.append(ticket)
        event_rows.extend(events)
    connection.executemany(
        "INSERT INTO tickets (status, priority, subject, requester_id, reply_channel, "
        "reply_address, reply_thread, waiting_on, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?)",
        ticket_rows,
    )
    connection.executemany(
        "INSERT INTO ticket_events (ticket_id, kind, visibility, author, text, at, channel, "
        "external_id) VALUES (?, ?, 'public', '', ?, ?, 'email', '')",
        event_rows,
    )
    connection.commit()
    connection.close()
    return time.perf_counter() - start


async def _median(work: Callable[[], Awaitable[list[int]]], repeats: int = 5) -> tuple[float, int]:
    timings, found = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        found = len(await work())
        timings.append(time.perf_counter() - start)
    return sorted(timings)[len(timings) // 2], found


async def timings(url: str, tickets: int) -> None:
    """Print index and LIKE times for a rare and a common word, and the query plan at 100k."""
    db = Database(url)
    async with db.sessions() as session:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            await session.execute(text("ANALYZE"))
        for word in (RARE, COMMON):

            async def indexed(word: str = word) -> list[int]:
                return await matching_ids(session, [word])

            async def like(word: str = word) -> list[int]:
                rows = await session.scalars(_LIKE, {"pattern": f"%{word}%"})
                return list(rows.all())

            fast, hits = await _median(indexed)
            slow, _ = await _median(like)
            print(f"search {word!r:11} ({hits:2d} shown): index {fast * 1000:7.2f} ms; "
                  f"baseline LIKE over every message {slow * 1000:7.2f} ms "
                  f"(baseline/index {slow / fast:6.1f}x)")  # fmt: skip
        if tickets >= 100_000:
            query = search_query(dialect, [RARE], 20)
            explain = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
            plan = await session.execute(text(explain + str(query.statement)), query.parameters)
            print("query plan:", " | ".join(str(row[-1]).strip() for row in plan))
    await db.dispose()


async def sqlite_times(folder: Path, tickets: int) -> None:
    for name in ("search", "plain"):
        db = Database(f"sqlite+aiosqlite:///{folder}/{name}-{tickets}.db")
        await db.upgrade()
        await db.dispose()
    drop_index(folder / f"plain-{tickets}.db")
    plain = fill(folder / f"plain-{tickets}.db", tickets)
    loaded = fill(folder / f"search-{tickets}.db", tickets)
    print(f"-- {tickets // 1000}k tickets, {3 * tickets // 1000}k events: loaded in {loaded:.1f} s "
          f"through the index triggers; baseline without the index {plain:.1f} s")  # fmt: skip
    await timings(f"sqlite+aiosqlite:///{folder}/search-{tickets}.db", tickets)


async def postgresql_times(server: str, tickets: int) -> None:
    """The same on a new PostgreSQL database on `server` (dropped afterwards)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(server)
    name = f"bench_search_{uuid.uuid4().hex[:8]}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    await connection.execute(f'CREATE DATABASE "{name}"')
    try:
        url = base.set(database=name).render_as_string(hide_password=False)
        db = Database(url)
        await db.upgrade()
        loaded = await _fill_postgresql(db, tickets)
        await db.dispose()
        print(f"-- {tickets // 1000}k tickets, {3 * tickets // 1000}k events: "
              f"loaded in {loaded:.1f} s with the GIN indexes")  # fmt: skip
        await timings(url, tickets)
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


async def _fill_postgresql(db: Database, tickets: int) -> float:
    at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    ticket_columns = ("status", "priority", "subject", "requester_id", "reply_channel",
                      "reply_address", "reply_thread", "waiting_on")  # fmt: skip
    ticket_rows, event_rows = [], []
    for ticket, events in _rows(tickets):
        ticket_rows.append(
            {
                **dict(zip(ticket_columns, ticket[:8], strict=True)),
                "created_at": at,
                "updated_at": at,
            }
        )
        event_rows.extend(
            {"ticket_id": number, "kind": kind, "visibility": "public", "author": "",
             "text": words, "at": at, "channel": "email", "external_id": ""}
            for number, kind, words, _ in events
        )  # fmt: skip
    start = time.perf_counter()
    async with db.engine.begin() as connection:
        await connection.execute(insert(table_of(Contact)), [
            {"id": 1, "channel": "email", "address": "c@example.com", "name": "Carol",
             "created_at": at}])  # fmt: skip
        for rows, table in ((ticket_rows, Ticket), (event_rows, TicketEvent)):
            for first in range(0, len(rows), 5000):
                await connection.execute(insert(table_of(table)), rows[first : first + 5000])
    return time.perf_counter() - start


async def search_section(folder: Path) -> None:
    print("== search <words> (median of 5; SQLite FTS5) ==")
    for tickets in (10_000, 100_000):
        await sqlite_times(folder, tickets)
    server = os.environ.get("TIDINGS_BENCH_POSTGRESQL_URL", "")
    if server:
        print("== search <words> (median of 5; PostgreSQL GIN) ==")
        for tickets in (10_000, 100_000):
            await postgresql_times(server, tickets)
    else:
        print("(set TIDINGS_BENCH_POSTGRESQL_URL to measure PostgreSQL too)")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await search_section(Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())

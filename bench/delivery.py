"""Delivery benchmark: outbox rows sent per second by the DeliveryWorker, next to raw commits.

Run by hand from the repository root: `.venv/bin/python -m bench.delivery [--rows N]
[--postgresql URL]`. Acknowledgements for N customers are queued through the real intake, then
sent by one worker in batches of 50 through an in-process channel that answers at once:
- instant: the channel costs nothing, so the figure is the worker's own overhead per row;
- slow relay: each send takes 4 s on a fake clock (no real waiting), so a batch outlives its
  2-minute lease and the worker has to renew it (and record what went out) on the way.
Printed next to a baseline measured in the same run: raw sqlite3, one INSERT + COMMIT per row
(WAL, synchronous=FULL), the cap a commit per sent row would put on delivery. Set
TIDINGS_BENCH_ROOT to another checkout to measure its code with this same file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("TIDINGS_BENCH_ROOT") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))

from bot.app import App  # noqa: E402
from core.channel import OutboundMessage, ReplyTarget, SendResult  # noqa: E402
from core.clock import FakeClock  # noqa: E402
from core.config import load_settings  # noqa: E402
from tests.fake_channel import FakeChannel  # noqa: E402


@dataclass
class Relay(FakeChannel):
    """Answers at once; each send moves the fake clock by `takes`."""

    clock: FakeClock = field(default_factory=FakeClock)
    takes: timedelta = timedelta(0)

    async def send(self, target: ReplyTarget, message: OutboundMessage) -> SendResult:
        self.clock.advance(self.takes)
        return await super().send(target, message)


def raw_commit_rate(folder: Path, rows: int = 1000) -> float:
    """Rows/s for one INSERT + COMMIT per row with the stdlib driver (WAL, synchronous=FULL)."""
    connection = sqlite3.connect(folder / "raw.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE sent (id INTEGER PRIMARY KEY, external_id TEXT)")
    start = time.perf_counter()
    for n in range(rows):
        connection.execute("BEGIN")
        connection.execute("INSERT INTO sent (external_id) VALUES (?)", (f"out-{n}",))
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return rows / elapsed


async def delivery_rate(url: str, rows: int, takes: timedelta) -> float:
    """Rows/s from the first claim until every acknowledgement is recorded as sent."""
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    relay = Relay(clock=clock, takes=takes)
    settings = load_settings(None, database={"url": url}, email={"enabled": False}, web={"port": 0})
    async with App(settings, clock=clock, channels=[relay], background=False) as app:
        for n in range(rows):
            await relay.say(f"user{n}", f"problem {n}", message_id=f"m{n}")
        while await app.desk.processor.process_pending():
            pass
        start = time.perf_counter()
        while await app.desk.delivery.deliver_due():
            pass
        elapsed = time.perf_counter() - start
        assert len(relay.sent) == rows, len(relay.sent)
    return rows / elapsed


async def _pg_admin(url: str, sql: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def measure(label: str, url_for: Any, rows: int, rounds: int) -> None:
    for name, takes in (("instant", timedelta(0)), ("slow relay", timedelta(seconds=4))):
        best = 0.0
        for round_ in range(rounds):
            url = await url_for(f"{name.replace(' ', '_')}_{round_}")
            best = max(best, await delivery_rate(url, rows, takes))
        print(f"{label:10} {name:10}: {best:7.0f} rows/s (best of {rounds})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgresql", default="", help="a server URL; a database is made")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"code measured: {ROOT}")
        print(f"baseline raw sqlite3, commit per row: {raw_commit_rate(folder):7.0f} rows/s")

        async def sqlite_url(name: str) -> str:
            return f"sqlite+aiosqlite:///{folder}/{name}.db"

        await measure("sqlite", sqlite_url, options.rows, options.rounds)
        if options.postgresql:
            from sqlalchemy.engine import make_url

            made: list[str] = []

            async def pg_url(name: str) -> str:
                database = f"bench_{name}_{uuid.uuid4().hex[:8]}"
                await _pg_admin(options.postgresql, f'CREATE DATABASE "{database}"')
                made.append(database)
                base = make_url(options.postgresql).set(database=database)
                return base.render_as_string(hide_password=False)

            try:
                await measure("postgresql", pg_url, options.rows, options.rounds)
            finally:
                for database in made:
                    await _pg_admin(options.postgresql, f'DROP DATABASE "{database}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())

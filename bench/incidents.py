"""Incident fan-out benchmark: one update to an incident with 5,000 linked open tickets.

Run by hand: `.venv/bin/python -m bench.incidents [--tickets 5000] [--database-url URL]`.
With a PostgreSQL URL the bench works in a database of its own made beside it, and drops it.
The target: every linked customer's message enqueued within 5 s, in one transaction. Printed
beside the same reply sent ticket by ticket (one command, one transaction each) in the same
run, timed over a sample and scaled to the same number of tickets.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import App
from core.clock import FakeClock
from core.config import load_settings
from core.storage.incident_models import IncidentLink
from core.storage.models import Contact, OutboxRow, Ticket, table_of

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SAMPLE = 50


def _seed(tickets: int) -> Any:
    """Contacts and open tickets, half by email and half by chat, written in one go."""

    def work(connection: Connection) -> None:
        connection.execute(insert(table_of(Contact)), [
            {"id": n, "channel": "email" if n % 2 else "slack", "address": f"user{n}@example.com",
             "name": f"User {n}", "created_at": NOW} for n in range(1, tickets + 1)
        ])  # fmt: skip
        connection.execute(insert(table_of(Ticket)), [
            {"id": n, "status": "open", "priority": "normal", "subject": f"Payments fail {n}",
             "requester_id": n, "reply_channel": "email" if n % 2 else "slack",
             "reply_address": f"user{n}@example.com", "reply_thread": f"thread-{n}",
             "waiting_on": "", "created_at": NOW, "updated_at": NOW}
            for n in range(1, tickets + 1)
        ])  # fmt: skip

    return work


def _links(incident: int, first: int, last: int) -> Any:
    def work(connection: Connection) -> None:
        connection.execute(insert(table_of(IncidentLink)), [
            {"ticket_id": n, "incident_id": incident, "linked_at": NOW, "linked_by": "alice"}
            for n in range(first, last + 1)
        ])  # fmt: skip

    return work


async def _outbox_count(app: App) -> int:
    async with app.db.sessions() as session:
        return int((await session.scalar(select(func.count()).select_from(OutboxRow))) or 0)


async def bench(tickets: int, url: str) -> None:
    settings = load_settings(
        None, database={"url": url}, email={"enabled": False}, web={"port": 0},
        agents={"alice": {"email": "alice@example.com"}},
    )  # fmt: skip
    async with App(settings, clock=FakeClock(NOW), channels=[], background=False) as app:
        await app.db.write(_seed(tickets + SAMPLE))
        assert (await app.desk.run_as("alice", "incident Card payments failing")).ok
        await app.db.write(_links(1, 1, tickets))

        before = await _outbox_count(app)
        start = time.perf_counter()
        reply = await app.desk.run_as("alice", "reply INC-1 The processor rejects a third.")
        fan_out = time.perf_counter() - start
        assert reply.ok, reply.text
        queued = await _outbox_count(app) - before
        start = time.perf_counter()
        assert (await app.desk.run_as("alice", "eta INC-1 in 4h Rerouting payments.")).ok
        eta_fan_out = time.perf_counter() - start

        start = time.perf_counter()
        for n in range(tickets + 1, tickets + SAMPLE + 1):
            assert (await app.desk.run_as("alice", f"reply T-{n} The processor rejects.")).ok
        one_by_one = (time.perf_counter() - start) / SAMPLE * tickets
    print(f"{app.db.engine.dialect.name}, {tickets} linked open tickets:")
    print(
        f"  reply INC-1 fanned out, one transaction   {fan_out:7.2f} s  ({queued} messages queued)"
    )
    print(f"  eta INC-1 fanned out, one transaction     {eta_fan_out:7.2f} s")
    print(f"  the same reply ticket by ticket (baseline) {one_by_one:7.2f} s  "
          f"(scaled from {SAMPLE} commands)")  # fmt: skip
    print(f"target: enqueued within 5 s: {'met' if max(fan_out, eta_fan_out) <= 5 else 'NOT met'}")


async def _on_postgresql(tickets: int, url: str) -> None:
    """Run in a new database next to `url`'s, never in that one; drop it afterwards."""
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"bench_incidents_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        try:
            await bench(tickets, base.set(database=name).render_as_string(hide_password=False))
        finally:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=5000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    if args.database_url.startswith("postgresql"):
        asyncio.run(_on_postgresql(args.tickets, args.database_url))
        return
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(bench(args.tickets, f"sqlite+aiosqlite:///{folder}/bench.db"))


if __name__ == "__main__":
    main()

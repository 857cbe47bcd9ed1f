"""Incident benchmark: one update fanned out to 5,000 linked open tickets, and its delivery.

Run by hand: `.venv/bin/python -m bench.incidents [--tickets 5000] [--database-url URL]`.
With a PostgreSQL URL the bench works in a database of its own made beside it, and drops it.

The fan-out section prints, each beside a baseline measured in the same run:
- enqueue: `reply INC-1 …` and `eta INC-1 …` to every linked customer (target ≤ 5 s, grouped
  writes), and the promise loop's automatic round for the incident, beside the same number of
  plain outbox rows written in one statement (the database's floor) and the same reply sent
  ticket by ticket (one command, one transaction each; timed over a sample and scaled);
- delivery: the fan-out's rows sent by the delivery worker through a channel that answers at
  once, beside the same number of plain outbox rows sent by the same worker.
The texts section renders one message per linked ticket with the templates kept (as Texts does),
beside Jinja's own check of the template's file for every message (as Texts did before).
`main()` runs each section in `SECTIONS` on one database; a section is an async function of the
bench (the running app and its seeded tickets) returning lines to print.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import App
from core.channel import Audience, ReplyTarget
from core.clock import FakeClock
from core.config import load_settings
from core.delivery.rows import outbox_values
from core.storage.incident_models import IncidentLink
from core.storage.models import Contact, OutboxRow, Ticket, table_of
from core.texts import SHIPPED, Texts
from tests.fake_channel import FakeChannel

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SAMPLE = 50
CHANNELS = ("email", "slack")  # half the customers on each; both answer at once


@dataclass
class Bench:
    """What every section gets: the app, its clock and channels, how many tickets are linked."""

    app: App
    clock: FakeClock
    channels: list[FakeChannel]
    tickets: int

    def sent(self) -> int:
        return sum(len(channel.sent) for channel in self.channels)


Section = Callable[[Bench], Awaitable[list[str]]]


def _seed(tickets: int) -> Any:
    """Contacts and open tickets, half by email and half by chat, written in one go."""

    def work(connection: Connection) -> None:
        connection.execute(insert(table_of(Contact)), [
            {"id": n, "channel": CHANNELS[n % 2], "address": f"user{n}@example.com",
             "name": f"User {n}", "created_at": NOW} for n in range(1, tickets + 1)
        ])  # fmt: skip
        connection.execute(insert(table_of(Ticket)), [
            {"id": n, "status": "open", "priority": "normal", "subject": f"Payments fail {n}",
             "requester_id": n, "reply_channel": CHANNELS[n % 2],
             "reply_address": f"user{n}@example.com", "reply_thread": f"thread-{n}",
             "waiting_on": "", "created_at": NOW, "updated_at": NOW,
             "next_update_due": NOW + timedelta(days=1)}
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


@dataclass
class Took:
    """Wall-clock seconds, and the CPU seconds of this process (every thread) meanwhile: on a
    shared machine the second says what the work itself cost."""

    wall: float
    cpu: float

    def __str__(self) -> str:
        return f"{self.wall:7.2f} s ({self.cpu:5.2f} s CPU)"


async def _timed(work: Awaitable[Any]) -> tuple[Took, Any]:
    start, cpu = time.perf_counter(), time.process_time()
    result = await work
    return Took(time.perf_counter() - start, time.process_time() - cpu), result


async def _delivered(bench: Bench) -> tuple[Took, int]:
    """Send everything due; how long it took, and how many rows were sent."""
    before = bench.sent()

    async def deliver() -> None:
        while await bench.app.desk.delivery.deliver_due():
            pass

    took, _ = await _timed(deliver())
    return took, bench.sent() - before


async def _run(app: App, words: str) -> None:
    reply = await app.desk.run_as("alice", words)
    assert reply.ok, reply.text


def _plain_rows(tickets: int, count: int) -> list[dict[str, Any]]:
    """`count` customer messages to the tickets' customers in turn, as the outbox stores them,
    built before the clock runs."""
    rows = []
    for number in range(count):
        n = number % tickets + 1
        ticket = Ticket(id=n, subject=f"Payments fail {n}", requester_id=n)
        target = ReplyTarget(CHANNELS[n % 2], f"user{n}@example.com", f"thread-{n}")
        rows.append(outbox_values(
            ticket, target, kind="agent_reply", text="The processor rejects a third.",
            automatic=False, token=uuid.uuid4().hex, now=NOW, event_id=None,
            audience=Audience.CUSTOMER, card=None, in_reply_to="", references=(),
        ))  # fmt: skip
    return rows


async def fan_out(bench: Bench) -> list[str]:
    """Enqueue and delivery of one incident update to every linked ticket, beside baselines."""
    app, tickets = bench.app, bench.tickets
    before = await _outbox_count(app)
    reply, _ = await _timed(_run(app, "reply INC-1 The processor rejects a third."))
    queued = await _outbox_count(app) - before
    fan_out_send, fan_out_rows = await _delivered(bench)
    eta, _ = await _timed(_run(app, "eta INC-1 in 4h Rerouting payments."))
    bench.clock.advance(app.settings.reminders.settle)
    await _delivered(bench)  # the ETA notices, out of the way of the plain rows

    rows = _plain_rows(tickets, fan_out_rows)  # as many rows as the fan-out's delivery sent

    def plain(connection: Connection) -> None:
        connection.execute(insert(table_of(OutboxRow)), rows)

    plain_insert, _ = await _timed(app.db.write(plain))
    plain_send, plain_rows = await _delivered(bench)

    bench.clock.set(NOW + timedelta(hours=4))  # the incident's next update falls due
    loop_round, told = await _timed(app.promises.tick())
    start, cpu = time.perf_counter(), time.process_time()
    for n in range(tickets + 1, tickets + SAMPLE + 1):
        await _run(app, f"reply T-{n} The processor rejects.")
    scale = tickets / SAMPLE
    one_by_one = Took((time.perf_counter() - start) * scale, (time.process_time() - cpu) * scale)
    assert fan_out_rows == plain_rows == queued == 2 * tickets and told == tickets
    met = "met" if max(reply.wall, eta.wall, loop_round.wall) <= 5 else "NOT met"
    return [
        f"enqueue, {tickets} linked open tickets: a message and a card update each "
        f"(target ≤ 5 s: {met})",
        f"  reply INC-1 fanned out, one transaction    {reply}  {queued} rows",
        f"  eta INC-1 fanned out, one transaction      {eta}",
        f"  the promise loop's round for the incident  {loop_round}  {told} customers told",
        f"  baseline: {len(rows)} plain outbox rows, one statement {plain_insert}",
        f"  baseline: the reply ticket by ticket       {one_by_one}  scaled from {SAMPLE}",
        f"delivery, {fan_out_rows} rows, one worker, channels that answer at once",
        f"  the fan-out's rows                         {fan_out_rows / fan_out_send.wall:7.0f}"
        f" rows/s {fan_out_send}",
        f"  baseline: plain outbox rows                {plain_rows / plain_send.wall:7.0f}"
        f" rows/s {plain_send}",
    ]


def _render_all(texts: Texts, count: int) -> Took:
    start, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        texts.render("agent_reply", text="The processor rejects a third.", agent="alice",
                     ref=f"T-{n}", next_update=NOW)  # fmt: skip
    return Took(time.perf_counter() - start, time.process_time() - cpu)


async def texts(bench: Bench) -> list[str]:
    """A fan-out's words, one message per linked ticket: templates kept (an operator's folder
    looked at once a second), beside Jinja's check of the file for every message (as before)."""
    lines = [f"texts, {bench.tickets} messages rendered (same run)"]
    with tempfile.TemporaryDirectory() as folder:
        shipped = (SHIPPED / "agent_reply.j2").read_text()
        (Path(folder) / "agent_reply.j2").write_text(shipped)
        for where, templates_dir in (("shipped", ""), ("operator's folder", folder)):
            kept, checked = Texts(templates_dir), Texts(templates_dir)
            checked.env.auto_reload = True  # a stat of the file for every message
            for warm in (kept, checked):
                _render_all(warm, 10)  # compiled before timing
            lines += [
                f"  {where + ', kept':34} {_render_all(kept, bench.tickets)}",
                f"  {'  baseline: a stat per message':34} {_render_all(checked, bench.tickets)}",
            ]
    return lines


# The sections main() runs, in order, on one database (a later one may add its own here).
SECTIONS: list[Section] = [fan_out, texts]


async def bench(tickets: int, url: str) -> None:
    # A triage channel, as every desk has: each ticket's card follows the update too.
    triage = {"enabled": True, "bot_token": "xoxb-bench", "signing_secret": "bench",
              "triage_channel": "CTRIAGE"}  # fmt: skip
    settings = load_settings(
        None, database={"url": url}, email={"enabled": False}, web={"port": 0}, slack=triage,
        agents={"alice": {"email": "alice@example.com"}},
    )  # fmt: skip
    clock = FakeClock(NOW)
    channels = [FakeChannel(name=name) for name in CHANNELS]
    async with App(settings, clock=clock, channels=list(channels), background=False) as app:
        await app.db.write(_seed(tickets + SAMPLE))
        await _run(app, "incident Card payments failing")
        await app.db.write(_links(1, 1, tickets))
        print(f"{app.db.engine.dialect.name}:")
        for section in SECTIONS:
            for line in await section(Bench(app, clock, channels, tickets)):
                print(line)


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

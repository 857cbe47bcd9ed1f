"""Email intake benchmark: SMTP messages/s accepted (stored before 250) and to committed tickets.

Run by hand: `.venv/bin/python -m bench.email_intake [--messages N] [--burst N]
[--database-url URL]`.
Each figure is printed next to a null aiosmtpd handler (answers 250, stores nothing) measured in
the same run with the same client, which runs in its own process so it does not share the
server's event loop. Accepted = SMTP DATA -> inbox row committed -> 250. End to end = first
MAIL FROM until the last ticket (with its acknowledgement queued) is committed. The burst:
`--burst` mails at 16 connections into the running desk, each message's time to 250 (p50,
p99) beside the null handler's, the time until every ticket is open and every acknowledgement
delivered, and this process's peak memory. A PostgreSQL `--database-url` names where to make
a database for the run (the rates share one, the burst has its own), dropped after it.

Not named email.py: in bench/ that would shadow the stdlib `email` package for every script
run from there (bench/core.py included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosmtplib
from aiosmtpd.smtp import SMTP
from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url

from bot.app import App
from channels.email import EmailChannel
from core.config import load_settings
from core.storage.models import EventKind, InboxRow, OutboxRow, OutboxStatus

SUPPORT = "support@acme.test"


def sample(n: int, run: str) -> bytes:
    """A realistic small customer mail: multipart/alternative, a quoted-printable body."""
    return (
        f"From: Customer {n} <customer{n}@example.org>\r\nTo: {SUPPORT}\r\n"
        f"Subject: Problem {n}: the VPN drops every few minutes\r\n"
        f"Message-ID: <{run}-{n}@mail.example.org>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
        "quoted-printable\r\n\r\nHello,\r\n\r\nsince this morning the VPN drops every few "
        "minutes. I am on=\r\n the office Wi-Fi, client 2.4.1.\r\n\r\nThanks,\r\nCustomer\r\n"
        "\r\n-- \r\nCustomer Example | ACME Ltd\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello,</p><p>since this "
        "morning the VPN drops every few minutes.</p><p>Thanks,<br>Customer</p>\r\n--b--\r\n"
    ).encode()


class Drive(NamedTuple):
    start: float
    end: float
    latencies: list[float]  # each message's MAIL FROM to 250, in seconds


async def _clients(port: int, total: int, connections: int, run: str) -> Drive:
    """`connections` SMTP sessions sharing `total` messages."""
    clients = [
        aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60) for _ in range(connections)
    ]
    for client in clients:
        await client.connect()
        await client.ehlo()
    queue = list(range(total))
    latencies: list[float] = []

    async def worker(client: aiosmtplib.SMTP) -> None:
        while queue:
            n = queue.pop()
            mail = sample(n, run)
            sent = time.perf_counter()
            await client.sendmail(f"customer{n}@example.org", [SUPPORT], mail)
            latencies.append(time.perf_counter() - sent)

    start = time.time()
    await asyncio.gather(*(worker(client) for client in clients))
    end = time.time()
    for client in clients:
        await client.quit()
    return Drive(start, end, latencies)


def _client_process(port: int, total: int, connections: int, run: str, out: Any) -> None:
    out.send(asyncio.run(_clients(port, total, connections, run)))


async def drive(port: int, total: int, connections: int, run: str) -> Drive:
    """Run the clients in a separate process; wait for it without blocking the server's loop."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_client_process, args=(port, total, connections, run, sender))
    process.start()
    result: Drive = Drive(*await asyncio.to_thread(receiver.recv))
    await asyncio.to_thread(process.join)
    return result


class NullHandler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


class Rate(NamedTuple):
    per_second: float
    cpu_ms: float  # this (the server's) process, per message, over the timed run


async def null_drive(total: int, connections: int) -> tuple[Drive, float]:
    """The null handler's run, and the server's CPU seconds over it."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(NullHandler(), hostname="bench.test", enable_SMTPUTF8=True, loop=loop),
        "127.0.0.1", 0,
    )  # fmt: skip
    port = server.sockets[0].getsockname()[1]
    cpu = time.process_time()
    result = await drive(port, total, connections, f"null{connections}")
    cpu = time.process_time() - cpu
    server.close()
    await server.wait_closed()
    return result, cpu


async def null_rate(total: int, connections: int) -> Rate:
    result, cpu = await null_drive(total, connections)
    return Rate(total / (result.end - result.start), cpu / total * 1000)


class MemoryIntake:
    """Stores payloads in a dict: our SMTP handler's own cost, without the database."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}

    async def receive(self, raw: Any) -> bool:
        fresh = raw.external_id not in self.stored
        self.stored[raw.external_id] = raw.payload
        return fresh


async def memory_rate(folder: Path, total: int, connections: int) -> float:
    channel = EmailChannel(settings_for(folder, "", "memory"))
    await channel.start(MemoryIntake())  # type: ignore[arg-type]
    try:
        start, end, _ = await drive(channel.port, total, connections, f"mem-{uuid.uuid4().hex}")
    finally:
        await channel.stop()
    return total / (end - start)


def settings_for(folder: Path, url: str, tag: str) -> Any:
    folder.mkdir(parents=True, exist_ok=True)
    return load_settings(
        None,
        database={"url": url or f"sqlite+aiosqlite:///{folder}/{tag}.db"},
        email={"port": 0, "addresses": [SUPPORT], "from_address": SUPPORT,
               "attachments_dir": str(folder / "att"),
               "outbound": {"transport": "maildir", "maildir": str(folder / f"outbox-{tag}")}},
        web={"port": 0},
    )  # fmt: skip


async def accepted_rate(folder: Path, url: str, total: int, connections: int) -> Rate:
    """Only the intake runs (no workers): the SMTP -> inbox commit -> 250 path."""
    settings = settings_for(folder, url, f"accept{connections}")
    channel = EmailChannel(settings)
    run = f"acc-{uuid.uuid4().hex}"
    async with App(settings, channels=[channel], background=False, web_enabled=False) as app:
        cpu = time.process_time()
        start, end, _ = await drive(channel.port, total, connections, run)
        cpu = time.process_time() - cpu
        # Untimed: remove this run's unprocessed rows, so a shared PostgreSQL database does not
        # hand them to the end-to-end run's inbox processor.
        mine = delete(InboxRow).where(InboxRow.external_id.like(f"%<{run}-%"))
        await app.db.write(lambda connection: connection.execute(mine))
    return Rate(total / (end - start), cpu / total * 1000)


async def end_to_end_rate(folder: Path, url: str, total: int, connections: int) -> Rate:
    """Everything running: intake, inbox processor (decode + tickets), delivery to Maildir."""
    settings = settings_for(folder, url, f"e2e{connections}")
    channel = EmailChannel(settings)
    async with App(settings, channels=[channel], web_enabled=False) as app:
        run = f"e2e-{uuid.uuid4().hex}"
        cpu = time.process_time()
        start = (await drive(channel.port, total, connections, run)).start
        # This run's messages that became tickets (ticket_id is set in the ticket's transaction).
        mine = (
            select(func.count())
            .select_from(InboxRow)
            .where(InboxRow.external_id.like(f"%<{run}-%"), InboxRow.ticket_id.is_not(None))
        )
        deadline = time.time() + 600
        while time.time() < deadline:
            async with app.db.sessions() as session:
                count = await session.scalar(mine)
            if (count or 0) >= total:
                break
            await asyncio.sleep(0.02)
        end = time.time()
        cpu = time.process_time() - cpu
    return Rate(total / (end - start), cpu / total * 1000)


class Burst(NamedTuple):
    p50: float  # seconds to 250
    p99: float
    tickets_open: float  # seconds from the first MAIL FROM until every ticket is committed
    acks_delivered: float  # ... until every acknowledgement is recorded as sent
    peak_mb: float  # this process's peak resident memory after the burst
    all_accepted: float  # seconds from the first MAIL FROM to the last 250


def _percentile(values: list[float], fraction: float) -> float:
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, int(fraction * len(ranked)))]


@contextlib.asynccontextmanager
async def scratch_database(url: str) -> AsyncIterator[str]:
    """A PostgreSQL URL gets a database of its own for the run, dropped after it, so the
    burst counts only its own rows and leaves no tables behind; SQLite gets a new file."""
    if not url.startswith("postgresql"):
        yield url
        return
    import asyncpg  # only with PostgreSQL

    base = make_url(url)
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    await run(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        await run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def burst(folder: Path, url: str, total: int) -> Burst:
    """`total` mails at 16 connections into the whole desk (intake, processor, delivery)."""
    async with scratch_database(url) as own_url:
        settings = settings_for(folder, own_url, "burst")
        channel = EmailChannel(settings)
        async with App(settings, channels=[channel], web_enabled=False) as app:
            run = f"burst-{uuid.uuid4().hex}"
            sent = await drive(channel.port, total, 16, run)
            # A database of its own: every ticket and every ack in it is this burst's.
            opened = (
                select(func.count()).select_from(InboxRow).where(InboxRow.ticket_id.is_not(None))
            )
            acked = (
                select(func.count())
                .select_from(OutboxRow)
                .where(OutboxRow.kind == EventKind.ACK, OutboxRow.status == OutboxStatus.SENT)
            )
            tickets_at = acks_at = None
            deadline = time.time() + 1800
            while time.time() < deadline and acks_at is None:
                async with app.db.sessions() as session:
                    if tickets_at is None and (await session.scalar(opened) or 0) >= total:
                        tickets_at = time.time()
                    if tickets_at is not None and (await session.scalar(acked) or 0) >= total:
                        acks_at = time.time()
                await asyncio.sleep(0.1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    end = time.time()
    return Burst(
        _percentile(sent.latencies, 0.5), _percentile(sent.latencies, 0.99),
        (tickets_at or end) - sent.start, (acks_at or end) - sent.start, peak,
        sent.end - sent.start,
    )  # fmt: skip


async def burst_section(folder: Path, url: str, total: int) -> None:
    null, _ = await null_drive(total, 16)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = await burst(folder / "burst", url, total)
    ms = 1000
    print(f"burst of {total} mails at 16 conn: time to 250 p50 {figures.p50 * ms:6.1f} ms, "
          f"p99 {figures.p99 * ms:6.1f} ms | null handler p50 "
          f"{_percentile(null.latencies, 0.5) * ms:6.1f} ms, p99 "
          f"{_percentile(null.latencies, 0.99) * ms:6.1f} ms")  # fmt: skip
    print(f"         every 250 after {figures.all_accepted:6.1f} s (null handler "
          f"{null.end - null.start:6.1f} s), every ticket open after {figures.tickets_open:6.1f} "
          f"s, every acknowledgement delivered after {figures.acks_delivered:6.1f} s")  # fmt: skip
    print(
        f"         peak memory of this process {figures.peak_mb:6.0f} MB (before the burst "
        f"{before:6.0f} MB; the decoding helper and the clients are processes of their own)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="median of this many runs each")
    parser.add_argument("--database-url", default="", help="default: a SQLite file in a temp dir")
    parser.add_argument("--burst", type=int, default=10_000, help="mails in the burst; 0: none")
    parser.add_argument("--burst-only", action="store_true", help="skip the rates, burst only")
    args = parser.parse_args()
    where = args.database_url.split("@")[-1] if args.database_url else "a SQLite file"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.burst_only:
            print(f"database: {where}")
        else:
            print(f"{args.messages} messages of {len(sample(0, 'x'))} bytes, median of "
                  f"{args.rounds} alternating runs; database: {where}")  # fmt: skip
            # The rates share one database (each run removes its rows); on PostgreSQL one made
            # for this run and dropped after it.
            async with scratch_database(args.database_url) as url:
                await rates(folder, url, args.messages, args.rounds)
        if args.burst:
            await burst_section(folder, args.database_url, args.burst)


async def rates(folder: Path, url: str, total: int, rounds: int) -> None:
    """Messages a second accepted at 1 and 16 connections, and end to end at 16."""
    baselines: dict[int, Rate] = {}
    for connections in (1, 16):
        nulls, accepted, memory = [], [], []
        for round_ in range(rounds):
            nulls.append(await null_rate(total, connections))
            memory.append(await memory_rate(folder, total, connections))
            accepted.append(await accepted_rate(folder / f"r{round_}", url, total, connections))
        null = baselines[connections] = _median(nulls)
        rate = _median(accepted)
        ratio = rate.per_second / null.per_second
        print(f"{connections:>2} conn: null handler {null.per_second:7.0f} msg/s | "
              f"accepted {rate.per_second:7.0f} msg/s = {ratio:.2f}x   (server CPU a message: "
              f"null {null.cpu_ms:.2f} ms, accepted {rate.cpu_ms:.2f} ms)")  # fmt: skip
        in_memory = statistics.median(memory)
        print(f"         (diagnostic: our handler into a dict, no database: {in_memory:7.0f} "
              f"msg/s = {in_memory / null.per_second:.2f}x)")  # fmt: skip
    e2e = _median(
        [await end_to_end_rate(folder / f"e{round_}", url, total, 16) for round_ in range(rounds)]
    )
    null = baselines[16]
    ratio = e2e.per_second / null.per_second
    print(f"16 conn: null handler {null.per_second:7.0f} msg/s | end to end (committed "
          f"tickets) {e2e.per_second:7.0f} msg/s = {ratio:.2f}x   (server CPU a message: "
          f"{e2e.cpu_ms:.2f} ms, the decoding helper's not counted)")  # fmt: skip


def _median(rates: list[Rate]) -> Rate:
    """The run with the median rate (its CPU figure with it)."""
    return sorted(rates)[len(rates) // 2]


if __name__ == "__main__":
    asyncio.run(main())

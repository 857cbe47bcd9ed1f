"""Email intake benchmark: SMTP messages/s accepted (stored before 250) and to committed tickets.

Run by hand: `.venv/bin/python -m bench.email_intake [--messages N] [--database-url URL]`.
Each figure is printed next to a null aiosmtpd handler (answers 250, stores nothing) measured in
the same run with the same client, which runs in its own process so it does not share the
server's event loop. Accepted = SMTP DATA -> inbox row committed -> 250. End to end = first
MAIL FROM until the last ticket (with its acknowledgement queued) is committed.

Not named email.py: in bench/ that would shadow the stdlib `email` package for every script
run from there (bench/core.py included).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosmtplib
from aiosmtpd.smtp import SMTP
from sqlalchemy import delete, func, select

from bot.app import App
from channels.email import EmailChannel
from core.config import load_settings
from core.storage.models import InboxRow

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


async def _clients(port: int, total: int, connections: int, run: str) -> tuple[float, float]:
    """`connections` SMTP sessions sharing `total` messages; (wall start, wall end)."""
    clients = [
        aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60) for _ in range(connections)
    ]
    for client in clients:
        await client.connect()
        await client.ehlo()
    queue = list(range(total))

    async def worker(client: aiosmtplib.SMTP) -> None:
        while queue:
            n = queue.pop()
            await client.sendmail(f"customer{n}@example.org", [SUPPORT], sample(n, run))

    start = time.time()
    await asyncio.gather(*(worker(client) for client in clients))
    end = time.time()
    for client in clients:
        await client.quit()
    return start, end


def _client_process(port: int, total: int, connections: int, run: str, out: Any) -> None:
    out.send(asyncio.run(_clients(port, total, connections, run)))


async def drive(port: int, total: int, connections: int, run: str) -> tuple[float, float]:
    """Run the clients in a separate process; wait for it without blocking the server's loop."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_client_process, args=(port, total, connections, run, sender))
    process.start()
    result = await asyncio.to_thread(receiver.recv)
    await asyncio.to_thread(process.join)
    return result


class NullHandler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


class Rate(NamedTuple):
    per_second: float
    cpu_ms: float  # this (the server's) process, per message, over the timed run


async def null_rate(total: int, connections: int) -> Rate:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(NullHandler(), hostname="bench.test", enable_SMTPUTF8=True, loop=loop),
        "127.0.0.1", 0,
    )  # fmt: skip
    port = server.sockets[0].getsockname()[1]
    cpu = time.process_time()
    start, end = await drive(port, total, connections, f"null{connections}")
    cpu = time.process_time() - cpu
    server.close()
    await server.wait_closed()
    return Rate(total / (end - start), cpu / total * 1000)


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
        start, end = await drive(channel.port, total, connections, f"mem-{uuid.uuid4().hex}")
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
        start, end = await drive(channel.port, total, connections, run)
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
        start, _ = await drive(channel.port, total, connections, run)
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="median of this many runs each")
    parser.add_argument("--database-url", default="", help="default: a SQLite file in a temp dir")
    args = parser.parse_args()
    total, rounds = args.messages, args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        where = args.database_url.split("@")[-1] if args.database_url else "a SQLite file"
        print(f"{total} messages of {len(sample(0, 'x'))} bytes, median of {rounds} "
              f"alternating runs; database: {where}")  # fmt: skip
        baselines: dict[int, Rate] = {}
        for connections in (1, 16):
            nulls, accepted, memory = [], [], []
            for round_ in range(rounds):
                nulls.append(await null_rate(total, connections))
                memory.append(await memory_rate(folder, total, connections))
                url = args.database_url
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
            [await end_to_end_rate(folder / f"e{round_}", args.database_url, total, 16)
             for round_ in range(rounds)]
        )  # fmt: skip
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

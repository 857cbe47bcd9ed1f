"""Fault-suite tools: `tidings run` as a killable process, a slow relay, what the desk holds."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP, Envelope, Session

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = "support@localhost"

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], T], what: str, seconds: float = 30.0, step: float = 0.1) -> T:
    """Poll `check` until it returns something true, for at most `seconds`; fail naming `what`."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")
        time.sleep(step)


def wait_for_quiet(count: Callable[[], int], quiet: float, seconds: float = 60.0) -> None:
    """Wait until `count()` has stayed the same for `quiet` seconds (at most `seconds` in all)."""
    deadline = time.monotonic() + seconds
    last, since = count(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError(f"still changing after {seconds:.0f}s (now {last})")
        time.sleep(0.1)
        now = count()
        if now != last:
            last, since = now, time.monotonic()


def environment(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a `tidings run` on free loopback ports, writing mail to a Maildir."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TIDINGS_DATABASE__URL": database_url,
        "TIDINGS_EMAIL__PORT": str(free_port()),
        "TIDINGS_EMAIL__OUTBOUND__MAILDIR": str(tmp_path / "outbox"),
        "TIDINGS_EMAIL__ATTACHMENTS_DIR": str(tmp_path / "attachments"),
        "TIDINGS_WEB__PORT": str(free_port()),
        "TIDINGS_REMINDERS__TICK": "1s",
        # A burst gives each test customer a dozen tickets within minutes; the per-address
        # limit on acknowledgements (tests/test_ack_limits.py) is not what these tests probe.
        "TIDINGS_INTAKE__ACKS_PER_ADDRESS_PER_HOUR": "1000",
        **extra,
    }
    env.pop("TIDINGS_CONFIG", None)
    return env


def relay_settings(port: int) -> dict[str, str]:
    """Environment entries that send outbound mail to an SMTP relay on 127.0.0.1:`port`."""
    return {
        "TIDINGS_EMAIL__OUTBOUND__TRANSPORT": "smtp",
        "TIDINGS_EMAIL__OUTBOUND__HOST": "127.0.0.1",
        "TIDINGS_EMAIL__OUTBOUND__PORT": str(port),
    }


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class Tidings:
    """One `tidings run` process (through tests.fault_run), in a process group of its own so
    that a kill takes its decoding helper with it. Its log goes to a file: a pipe nobody reads
    would stall a busy process once full."""

    env: dict[str, str]
    workdir: Path  # its working directory, and where its log goes
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / "tidings.log"

    @property
    def smtp_port(self) -> int:
        return int(self.env["TIDINGS_EMAIL__PORT"])

    def start(self, seconds: float = 60.0) -> None:
        for _ in range(3):
            if self._start_once(seconds):
                return
            # Another process took a port between free_port() and the bind (a shared machine):
            # take new ones and start again. The tests read the ports from here each time.
            self.env["TIDINGS_EMAIL__PORT"] = str(free_port())
            self.env["TIDINGS_WEB__PORT"] = str(free_port())
        raise AssertionError(f"tidings run found no free port three times:\n{self.log()}")

    def _start_once(self, seconds: float) -> bool:
        """True once healthy; False when it exited because a port was taken meanwhile."""
        assert self.process is None, "already running"
        self.starts += 1
        marker = f"--- start {self.starts}\n"
        with open(self.log_path, "ab") as log:
            log.write(marker.encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.fault_run", "run"],
                cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        process, web_port = self.process, int(self.env["TIDINGS_WEB__PORT"])
        wait_until(lambda: _healthy(web_port) or process.poll() is not None, "/healthz", seconds)
        if process.poll() is None:
            return True
        self.process = None
        this_start = self.log().rpartition(marker)[2]
        assert "already in use" in this_start, f"tidings run exited early:\n{self.log()}"
        return False

    def kill(self) -> None:
        """SIGKILL the process and everything it started; wait until it is gone."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM and wait (bounded); SIGKILL if it does not stop. Returns the exit code."""
        process = self.process
        if process is None:
            return 0
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = -signal.SIGKILL
        self.kill()
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def maildir(folder: Path) -> list[EmailMessage]:
    """Every message in the Maildir's new/ folder."""
    new = folder / "new"
    if not new.is_dir():
        return []
    found: list[EmailMessage] = []
    for path in sorted(new.iterdir()):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    return found


@dataclass
class Relayed:
    """One message the sink relay accepted."""

    recipients: list[str]
    message: EmailMessage


@dataclass
class SinkRelay:
    """A real aiosmtpd relay on a thread of its own, taking `delay` seconds per message.

    `with SinkRelay(delay=1.5) as relay:` then point Tidings at relay.port.
    """

    delay: float = 0.0
    port: int = 0
    received: list[Relayed] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow relay: the 250 comes late
        parsed = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.received.append(Relayed(list(envelope.rcpt_tos), parsed))
        return "250 2.0.0 relayed"

    def messages(self) -> list[Relayed]:
        with self._lock:
            return list(self.received)

    def __enter__(self) -> SinkRelay:
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)

            async def open_server() -> None:
                self._server = await loop.create_server(
                    lambda: SMTP(self, hostname="relay.test", loop=loop), "127.0.0.1", 0
                )
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set()

            loop.run_until_complete(open_server())
            loop.run_forever()

        self._thread = threading.Thread(target=serve, name="sink-relay", daemon=True)
        self._thread.start()
        assert ready.wait(10), "the sink relay did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def close() -> None:
            server.close()
            await server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
            loop.close()


@dataclass
class Holdings:
    """What the desk holds: every ticket with its timeline, and the work still to do."""

    tickets: list[dict[str, Any]]
    unprocessed: int  # inbox rows not yet applied
    undelivered: int  # outbox rows still pending

    def customer_texts(self) -> dict[str, list[str]]:
        """The customer messages on each ticket, by ref."""
        return {
            ticket["ref"]: [e["text"] for e in ticket["events"] if e["kind"] == "customer_message"]
            for ticket in self.tickets
        }


def backlog(database_url: str) -> tuple[int, int, int]:
    """Cheaply: inbox rows not yet applied, outbox rows still pending, and tickets."""
    return asyncio.run(_count(database_url))


async def _count(database_url: str) -> tuple[int, int, int]:
    from sqlalchemy import func, select

    from core.storage.db import Database
    from core.storage.models import InboxRow, OutboxRow, OutboxStatus, Ticket

    db = Database(database_url)
    try:
        async with db.sessions() as session:
            counts = [
                await session.scalar(select(func.count()).select_from(model).where(where))
                for model, where in (
                    (InboxRow, InboxRow.processed_at.is_(None)),
                    (OutboxRow, OutboxRow.status == OutboxStatus.PENDING.value),
                    (Ticket, Ticket.id.is_not(None)),
                )
            ]
        return counts[0] or 0, counts[1] or 0, counts[2] or 0
    finally:
        await db.dispose()


def holdings(database_url: str) -> Holdings:
    """Read the database as `tidings tickets show --json` does, for every ticket at once."""
    return asyncio.run(_read(database_url))


async def _read(database_url: str) -> Holdings:
    from sqlalchemy import func, select

    from core.config import load_settings
    from core.context import Context
    from core.desk import Desk
    from core.storage.db import Database
    from core.storage.models import InboxRow, OutboxRow, OutboxStatus

    db = Database(database_url)
    try:
        desk = Desk(db, Context(load_settings(None, database={"url": database_url})), {})
        listed = await desk.list_tickets(None)
        shown = [await desk.show_ticket(int(ticket["number"])) for ticket in listed]
        async with db.sessions() as session:
            unprocessed = await session.scalar(
                select(func.count()).select_from(InboxRow).where(InboxRow.processed_at.is_(None))
            )
            undelivered = await session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(OutboxRow.status == OutboxStatus.PENDING.value)
            )
        return Holdings([t for t in shown if t is not None], unprocessed or 0, undelivered or 0)
    finally:
        await db.dispose()


def run_cli(env: dict[str, str], workdir: Path, *words: str) -> str:
    """`tidings WORDS…` as a process on the same settings; its output (fails on a non-zero exit)."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", *words],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout

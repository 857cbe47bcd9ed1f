"""`tidings run` as a real process: mail in over SMTP, acknowledgement out to the Maildir,
an agent answers from the CLI, SIGTERM stops it cleanly."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(check, what: str, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    """Poll `check` a bounded number of times; fail naming what never happened."""
    for _ in range(int(seconds / 0.1)):
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _mails(folder: Path) -> list[EmailMessage]:
    new = folder / "new"
    files = sorted(new.iterdir(), key=lambda p: p.stat().st_mtime_ns) if new.is_dir() else []
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for path in files
    ]


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TIDINGS_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/tidings.db",
        "TIDINGS_EMAIL__PORT": str(_free_port()),
        "TIDINGS_EMAIL__OUTBOUND__MAILDIR": str(tmp_path / "outbox"),
        "TIDINGS_EMAIL__ATTACHMENTS_DIR": str(tmp_path / "attachments"),
        "TIDINGS_WEB__PORT": str(_free_port()),
        "TIDINGS_REMINDERS__TICK": "1s",
    }
    env.pop("TIDINGS_CONFIG", None)
    return env


def _start(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    web_port = int(env["TIDINGS_WEB__PORT"])
    _wait_for(lambda: _healthy(web_port) or server.poll() is not None, "/healthz")
    assert server.poll() is None, "tidings run exited early"
    return server


def _stop(server: subprocess.Popen[str]) -> str:
    server.send_signal(signal.SIGTERM)
    try:
        output, _ = server.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        output, _ = server.communicate()
    return output


def test_run_serves_mail_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    smtp_port, outbox = int(env["TIDINGS_EMAIL__PORT"]), tmp_path / "outbox"
    server = _start(tmp_path, env)
    try:
        message = EmailMessage()
        message["From"] = "Carol Example <carol@example.com>"
        message["To"] = "support@localhost"
        message["Subject"] = "VPN drops"
        message["Message-ID"] = "<vpn-1@example.com>"
        message.set_content("The VPN drops every five minutes since this morning.")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            client.send_message(message)

        [ack] = _wait_for(lambda: _mails(outbox), "the acknowledgement")
        assert ack["To"] == "carol@example.com"
        assert ack["Subject"] == "Re: [T-1] VPN drops"
        assert ack["In-Reply-To"] == "<vpn-1@example.com>"
        assert ack["Auto-Submitted"] == "auto-replied"
        assert "T-1" in ack.get_content()

        agent = subprocess.run(
            [sys.executable, "-m", "bot", "agent", "--as", "alice", "reply", "T-1",
             "We have restarted the VPN gateway; please try again."],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert agent.returncode == 0, agent.stderr
        mails = _wait_for(lambda: _mails(outbox)[1:] and _mails(outbox), "the agent's reply")
        reply = mails[1]
        assert "restarted the VPN gateway" in reply.get_content()
        assert reply["Auto-Submitted"] is None, "a person's reply is not auto-submitted"
        assert "<vpn-1@example.com>" in reply["References"]
    finally:
        output = _stop(server)
    assert server.returncode == 0, output
    for line in ("database ready", "channel email started", "web server on", "stopping"):
        assert line in output


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_burst_waiting_at_start_is_answered_and_the_helper_stops_with_the_app(
    tmp_path: Path,
) -> None:
    """Mail stored while the app was down arrives as one burst: it starts the decoding helper
    process, every message is acknowledged, and SIGTERM stops the helper too."""
    import asyncio

    from core.channel import RawInbound
    from core.intake.writer import InboxWriter
    from core.storage.db import Database
    from tests.test_decoding import _mail

    env = _environment(tmp_path)
    burst = 40

    async def store_while_down() -> None:
        db = Database(env["TIDINGS_DATABASE__URL"])
        await db.upgrade()
        writer = InboxWriter(db, lambda: datetime.now(UTC))
        for n in range(burst):
            await writer.put(RawInbound("email", f"burst-{n}", _mail(n)))
        await db.dispose()

    asyncio.run(store_while_down())
    server = _start(tmp_path, env)
    try:
        mails = _wait_for(
            lambda: len(_mails(tmp_path / "outbox")) >= burst and _mails(tmp_path / "outbox"),
            "an acknowledgement for every stored message",
            seconds=60,
        )
        assert sorted(mail["To"] for mail in mails) == sorted(
            f"customer{n}@example.org" for n in range(burst)
        )
        helpers = _wait_for(lambda: _children(server.pid), "the decoding helper process")
    finally:
        output = _stop(server)
    assert server.returncode == 0, output
    assert "decoding worker process ready" in output
    _wait_for(lambda: all(_gone(pid) for pid in helpers), "the helper to stop with the app")

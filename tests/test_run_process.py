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


def test_run_serves_mail_and_stops_on_sigterm(tmp_path: Path) -> None:
    smtp_port, web_port = _free_port(), _free_port()
    outbox = tmp_path / "outbox"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TIDINGS_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/tidings.db",
        "TIDINGS_EMAIL__PORT": str(smtp_port),
        "TIDINGS_EMAIL__OUTBOUND__MAILDIR": str(outbox),
        "TIDINGS_EMAIL__ATTACHMENTS_DIR": str(tmp_path / "attachments"),
        "TIDINGS_WEB__PORT": str(web_port),
        "TIDINGS_REMINDERS__TICK": "1s",
    }
    env.pop("TIDINGS_CONFIG", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: _healthy(web_port) or server.poll() is not None, "/healthz")
        assert server.poll() is None, "tidings run exited early"

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
        server.send_signal(signal.SIGTERM)
        try:
            output, _ = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output
    for line in ("database ready", "channel email started", "web server on", "stopping"):
        assert line in output

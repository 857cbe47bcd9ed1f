"""What the operator types at `tidings` and what they read back, as transcripts (issue 16)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App
from bot.cli import main
from core.clock import FakeClock
from core.storage.models import AttachmentRow, TicketEvent
from tests.fake_channel import FakeChannel

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "tidings.toml"
    path.write_text(body)
    return str(path)


def _tidings(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `tidings ARGV…` in this process: (exit code, what it printed, what it warned)."""
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # --help and --version end the way argparse ends them
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_config_before_the_subcommand_version_and_agent_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, '[email]\nfrom_address = "Example Support <help@example.com>"\n')
    code, out, _ = _tidings(capsys, "--config", config, "check-config")
    assert code == 0 and "configuration OK" in out
    assert "mail from: Example Support <help@example.com>" in out
    code, out, _ = _tidings(capsys, "check-config", "--config", config)
    assert code == 0 and "mail from: Example Support <help@example.com>" in out

    code, out, _ = _tidings(capsys, "--version")
    assert code == 0 and out.startswith("tidings ")

    code, out, _ = _tidings(capsys, "agent", "--help")
    assert code == 0
    for verb in ("reply <ticket> <text>", "eta <ticket> <when> [text]", "wait <ticket> <what>"):
        assert verb in out


def test_config_mistakes_read_as_sentences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = _config(tmp_path, "[email]\nprot = 2600\n")
    code, _, err = _tidings(capsys, "check-config", "--config", typo)
    assert code == 2 and "email.prot: unknown key (did you mean email.port?)" in err

    (tmp_path / "hours.toml").write_text('[reminders.business_hours]\nopen = "9am"\n')
    code, _, err = _tidings(capsys, "check-config", "--config", str(tmp_path / "hours.toml"))
    assert code == 2
    assert "'9am' is not a time of day; write it on a 24-hour clock like \"09:00\"" in err
    assert "pattern" not in err and "^" not in err
    (tmp_path / "nine.toml").write_text('[reminders.business_hours]\nopen = "9:00"\n')
    assert _tidings(capsys, "check-config", "--config", str(tmp_path / "nine.toml"))[0] == 0

    (tmp_path / "two.toml").write_text('[email]\nfrom_address = "a@example.com, b@example.com"\n')
    code, _, err = _tidings(capsys, "check-config", "--config", str(tmp_path / "two.toml"))
    assert code == 2 and "is not one mail address" in err

    monkeypatch.setenv("TIDINGS_EMAL__PORT", "2600")
    code, _, err = _tidings(capsys, "check-config")
    assert code == 0
    assert (
        "warning: TIDINGS_EMAL__PORT is not a setting and is ignored "
        "(did you mean TIDINGS_EMAIL__PORT?)"
    ) in err


def test_tokens_without_enabled_are_a_warning_not_silence(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDINGS_SLACK__BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("TIDINGS_SLACK__SIGNING_SECRET", "secret")
    monkeypatch.setenv("TIDINGS_DISCORD__TOKEN", "abc")
    code, out, err = _tidings(capsys, "check-config")
    assert code == 0 and "channels enabled: email" in out
    assert "Slack tokens are set but slack.enabled is false, so Slack stays off" in err
    assert "discord.token is set but discord.enabled is false" in err
    assert "no agents are configured" in err


def test_a_second_run_on_a_busy_port_says_which_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = _config(
            tmp_path,
            f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/t.db"\n'
            f"[email]\nenabled = false\n[web]\nport = {port}\n",
        )
        done = subprocess.run(
            [sys.executable, "-m", "bot", "run", "--config", config],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in done.stderr
    assert "set web.port to a free port" in done.stderr
    assert "Traceback" not in done.stderr


def _agent_config(tmp_path: Path, database_url: str, agents: str) -> str:
    return _config(
        tmp_path,
        f'[database]\nurl = "{database_url}"\n[email]\nenabled = false\n'
        '[reminders.business_hours]\nopen = "08:30"\n' + agents,
    )


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(_tidings, capsys, *argv)


async def _deliver(app: App, clock: FakeClock) -> None:
    # The CLI ran on the wall clock; bring the test clock past it so its rows are due.
    clock.set(max(clock.now(), datetime.now(UTC)) + timedelta(minutes=1))
    await app.drain()


async def test_the_operator_transcript(
    database_url: str,
    settings_factory: Any,
    clock: FakeClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _agent_config(
        tmp_path, database_url, '[agents.alice]\nslack = "UALICE"\ndisplay_name = "Alice Smith"\n'
    )
    fake = FakeChannel()
    settings = settings_factory(
        agents={"alice": {"slack": "UALICE", "display_name": "Alice Smith"}}
    )
    async with App(settings, clock=clock, channels=[fake], background=False) as app:
        await fake.say("carol", "Calendar sync is broken", message_id="m1", name="Carol")
        await app.drain()

        # An impossible time is an error naming it, and the customer hears nothing.
        code, _, err = await _cli(
            capsys, "--config", config, "agent", "--as", "alice", "eta", "T-1", "tomorrow", "25:00"
        )
        assert code == 1 and '"25:00" is not a time of day' in err
        code, _, err = await _cli(
            capsys, "agent", "--config", config, "--as", "alice", "eta", "T-1", "31", "feb"
        )
        assert code == 1 and '"31 feb" is not a date' in err
        await _deliver(app, clock)
        said = fake.texts_to("carol")
        assert not any("25:00" in text or "expect this to be resolved" in text for text in said)

        # "tomorrow" is the configured opening hour, not a fixed 09:00.
        code, out, _ = await _cli(
            capsys, "agent", "--config", config, "--as", "alice", "eta", "T-1", "tomorrow"
        )
        assert code == 0 and ", 08:30 (UTC), customer told" in out

        # A quoted <what> is one unit; the words after it are the message.
        code, out, _ = await _cli(capsys, "agent", "--config", config, "--as", "alice",
                                  "wait", "T-1", "the vendor's fix", "ETA", "Tuesday")  # fmt: skip
        assert code == 0 and "T-1 is waiting on the vendor's fix" in out
        await _deliver(app, clock)
        told = fake.texts_to("carol")[-1]
        assert "we are waiting on the vendor's fix before we can go further" in told
        assert "\n\nETA Tuesday\n\n" in told
        assert told.endswith("— Alice Smith, support")

        await app.db.write(_attach)
        code, out, _ = await _cli(capsys, "tickets", "list", "--config", config)
        header, row = out.splitlines()[:2]
        assert header.split() == ["TICKET", "STATUS", "PRIORITY", "CHANNEL", "ASSIGNEE",
                                  "NEXT", "UPDATE", "SUBJECT"]  # fmt: skip
        assert row.startswith("T-1") and "Calendar sync is broken" in row and "(UTC)" in row
        assert "T" not in row.split("(UTC)")[0].split("alice")[-1]  # no ISO stamps
        code, out, _ = await _cli(capsys, "tickets", "show", "T-1", "--config", config)
        assert "attachments (1):" in out and "sync.log (text/plain, 2.0 KB)" in out
        assert "Z " not in out and "waiting on the vendor's fix" in out


async def _attach(session: Any) -> None:
    event = await session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == 1).limit(1))
    session.add(
        AttachmentRow(
            ticket_id=1, event_id=event.id, name="sync.log", content_type="text/plain",
            size=2048, stored_at="var/a/sync.log",
        )
    )  # fmt: skip


async def test_assign_with_no_agents_configured_is_refused(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _agent_config(tmp_path, database_url, "")
    code, _, err = await _cli(capsys, "agent", "--config", config, "--as", "alice",
                              "assign", "T-1", "bob")  # fmt: skip
    assert code == 2
    assert 'cannot assign to "bob": no agents are configured; add [agents.bob]' in err

"""The `tidings` command line, run as a real process against the same database as the app."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import App
from core.clock import FakeClock
from tests.fake_channel import FakeChannel

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "tidings.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n[email]\nenabled = false\n'
        '[agents.alice]\nslack = "UALICE"\n'
    )
    return path


async def _tidings(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TIDINGS_CONFIG": str(config)}
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


async def test_agent_reply_from_the_cli_reaches_the_customer(
    database_url: str, settings_factory: Any, clock: FakeClock, tmp_path: Path
) -> None:
    config = _config(tmp_path, database_url)
    fake = FakeChannel()
    async with App(settings_factory(), clock=clock, channels=[fake], background=False) as app:
        await fake.say("carol", "Calendar sync is broken", message_id="m1", name="Carol")
        await app.drain()

        done = await _tidings(
            config, "agent", "--as", "alice", "reply", "T-1", "Fixed on our side."
        )
        assert done.returncode == 0, done.stderr
        assert "reply sent to T-1" in done.stdout
        # The CLI ran on the wall clock; bring the test clock past it so the row is due.
        clock.set(max(clock.now(), datetime.now(UTC)) + timedelta(minutes=1))
        await app.drain()
        assert "Fixed on our side." in fake.texts_to("carol")[-1]

        refused = await _tidings(config, "agent", "--as", "mallory", "resolve", "T-1")
        assert refused.returncode == 2 and "not a configured agent" in refused.stderr
        bad = await _tidings(config, "agent", "--as", "alice", "eta", "T-1", "someday")
        assert bad.returncode == 1 and "is not a time" in bad.stderr

        listing = await _tidings(config, "tickets", "list", "--json")
        [ticket] = json.loads(listing.stdout)
        assert ticket["ref"] == "T-1" and ticket["status"] == "open"
        for key in ("number", "priority", "channel", "subject", "requester", "assignee", "eta",
                    "next_update_due", "created_at"):  # fmt: skip
            assert key in ticket
        assert ticket["created_at"].endswith("Z")

        shown = json.loads((await _tidings(config, "tickets", "show", "T-1", "--json")).stdout)
        assert [e["kind"] for e in shown["events"]] == ["customer_message", "ack", "agent_reply"]
        assert {"kind", "visibility", "author", "text", "at"} <= set(shown["events"][0])

        human = await _tidings(config, "tickets", "show", "#1")
        assert "Calendar sync is broken" in human.stdout
        missing = await _tidings(config, "tickets", "show", "T-9")
        assert missing.returncode == 1 and "no ticket T-9" in missing.stderr


async def test_healthz_names_the_failing_part(settings_factory: Any, clock: FakeClock) -> None:
    fake = FakeChannel()
    async with App(settings_factory(), clock=clock, channels=[fake], background=False) as app:
        url = f"http://127.0.0.1:{app.web_port}/healthz"
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                assert response.status == 200
                assert (await response.json())["status"] == "ok"
            await fake.stop()  # the channel loses its connection
            async with http.get(url) as response:
                # A platform's outage is "degraded", not down: no restart over it.
                assert response.status == 200
                body = await response.json()
                assert body["status"] == "degraded"
                assert body["problems"] == {"fake": "not started"}


async def test_db_upgrade_and_check_config(database_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, database_url)
    upgraded = await _tidings(config, "db", "upgrade")
    assert upgraded.returncode == 0 and "up to date" in upgraded.stdout
    checked = await _tidings(config, "check-config")
    assert checked.returncode == 0 and "configuration OK" in checked.stdout


async def _tidings_on_defaults(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI on the built-in defaults (no config file), as the README's first steps run it."""
    env = {key: value for key, value in os.environ.items() if key != "TIDINGS_CONFIG"}
    env |= {"PYTHONPATH": str(ROOT), "TIDINGS_DATABASE__URL": database_url}
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


async def test_only_configured_agents_act_from_the_cli_and_the_defaults_have_alice(
    database_url: str, settings_factory: Any, clock: FakeClock, tmp_path: Path
) -> None:
    fake = FakeChannel()
    async with App(settings_factory(), clock=clock, channels=[fake], background=False) as app:
        await fake.say("carol", "Calendar sync is broken", message_id="m1", name="Carol")
        await app.drain()
        before = await app.show_ticket(1)

        # A config file with no [agents.*]: nobody may act, and the refusal says how to fix it.
        config = tmp_path / "no-agents.toml"
        config.write_text(f'[database]\nurl = "{database_url}"\n[email]\nenabled = false\n')
        refused = await _tidings(config, "agent", "--as", "alice", "resolve", "T-1")
        assert refused.returncode == 2
        assert refused.stderr.strip() == (
            "tidings: alice is not a configured agent; add [agents.alice] to the config"
        )
        assert await app.show_ticket(1) == before

        # The built-in defaults configure the demo agent alice, and only her.
        stranger = await _tidings_on_defaults(database_url, "agent", "--as", "bob", "take", "T-1")
        assert stranger.returncode == 2 and "add [agents.bob] to the config" in stranger.stderr
        assert await app.show_ticket(1) == before
        taken = await _tidings_on_defaults(database_url, "agent", "--as", "alice", "take", "T-1")
        assert taken.returncode == 0, taken.stderr
        assert taken.stdout.strip() == "T-1 assigned to alice"
        assert (await app.show_ticket(1))["assignee"] == "alice"

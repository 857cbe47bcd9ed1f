"""`tidings incidents list/show [--json]` as a real process, and the agent grammar from the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import App
from core.clock import FakeClock
from tests.fake_channel import FakeChannel
from tests.test_cli import _config, _tidings

KEYS = ["ref", "title", "state", "service", "started_at", "eta", "next_update_due",
        "resolved_at", "updates", "tickets"]  # fmt: skip


async def test_incidents_list_and_show_print_the_agreed_keys(
    database_url: str, settings_factory: Any, clock: FakeClock, tmp_path: Path
) -> None:
    config = _config(tmp_path, database_url)
    fake = FakeChannel()
    async with App(settings_factory(), clock=clock, channels=[fake], background=False) as app:
        await fake.say("carol", "The API returns 502", message_id="m1")
        await app.drain()

        opened = await _tidings(config, "agent", "--as", "alice", "incident", "API", "errors")
        assert opened.returncode == 0 and opened.stdout.startswith("INC-1 opened: API errors")
        for words in (["link", "T-1", "INC-1"], ["reply", "INC-1", "A", "node", "is", "down."]):
            done = await _tidings(config, "agent", "--as", "alice", *words)
            assert done.returncode == 0, done.stderr
        clock.set(max(clock.now(), datetime.now(UTC)) + timedelta(minutes=1))
        await app.drain()
        assert "A node is down." in fake.texts_to("carol")[-1]

        listing = json.loads((await _tidings(config, "incidents", "list", "--json")).stdout)
        [incident] = listing
        assert sorted(incident) == sorted(KEYS)
        assert incident["ref"] == "INC-1" and incident["tickets"] == ["T-1"]
        assert incident["state"] == "identified" and incident["service"] is None
        assert incident["started_at"].endswith("Z") and incident["resolved_at"] is None
        assert [sorted(u) for u in incident["updates"]] == [["at", "state", "text"]] * 2
        assert incident["updates"][0]["text"] == "A node is down."

        shown = json.loads((await _tidings(config, "incidents", "show", "INC-1", "--json")).stdout)
        assert shown == incident
        human = await _tidings(config, "incidents", "show", "inc-1")
        assert human.stdout.startswith("INC-1 [identified] API errors — 1 ticket(s)")
        assert "A node is down." in human.stdout and "tickets: T-1" in human.stdout
        short = await _tidings(config, "incidents", "list")
        assert short.stdout.strip().splitlines()[0].startswith("INC-1 [identified] API errors")

        missing = await _tidings(config, "incidents", "show", "INC-9")
        assert missing.returncode == 1 and "there is no incident INC-9" in missing.stderr
        wrong = await _tidings(config, "incidents", "show", "T-1")
        assert wrong.returncode == 2 and '"T-1" is not an incident; write INC-7' in wrong.stderr

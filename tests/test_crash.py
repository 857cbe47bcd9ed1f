"""SIGKILL at the two dangerous moments: nothing is lost, nothing is duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.app import App
from core.clock import FakeClock
from tests.fake_channel import FakeChannel

ROOT = Path(__file__).resolve().parent.parent


def _crash(database_url: str, phase: str, clock: FakeClock) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "tests.crash_worker", database_url, phase, clock.now().isoformat()],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == -signal.SIGKILL, result.stderr
    return result.stdout


async def test_kill_between_inbox_persist_and_processing_loses_nothing(
    database_url: str, settings_factory: Any, clock: FakeClock
) -> None:
    assert "stored=True" in _crash(database_url, "after-inbox-persist", clock)

    fake = FakeChannel()
    async with App(settings_factory(), clock=clock, channels=[fake], background=False) as app:
        # The platform retries because it never got our ack: the retry is recognised.
        assert await fake.say("carol", "Disk is full", message_id="m1") is False
        await app.drain()
        tickets = await app.list_tickets()
        assert [t["subject"] for t in tickets] == ["Disk is full"]
        assert len(fake.texts_to("carol")) == 1


async def test_kill_between_outbox_claim_and_send_delivers_after_the_lease(
    database_url: str, settings_factory: Any, clock: FakeClock
) -> None:
    fake = FakeChannel()
    async with App(settings_factory(), clock=clock, channels=[fake], background=False) as app:
        await fake.say("carol", "Disk is full", message_id="m1")
    assert "claimed=1" in _crash(database_url, "after-outbox-claim", clock)

    fake = FakeChannel()
    async with App(settings_factory(), clock=clock, channels=[fake], background=False) as app:
        await app.drain()
        assert fake.sent == [], "the dead worker's lease has not expired yet"
        clock.advance(timedelta(minutes=3))
        await app.drain()
        assert len(fake.texts_to("carol")) == 1
        await app.drain()
        assert len(fake.texts_to("carol")) == 1

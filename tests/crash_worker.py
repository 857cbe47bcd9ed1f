"""Run by test_crash.py in a child process that kills itself with SIGKILL at a chosen point."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime

from bot.app import App
from core.clock import FakeClock
from core.config import load_settings
from tests.fake_channel import FakeChannel


async def main(database_url: str, phase: str, now: str) -> None:
    settings = load_settings(None, database={"url": database_url}, email={"enabled": False})
    fake = FakeChannel()
    clock = FakeClock(datetime.fromisoformat(now))
    async with App(
        settings, clock=clock, channels=[fake], background=False, web_enabled=False
    ) as app:
        if phase == "after-inbox-persist":
            stored = await fake.say("carol", "Disk is full", message_id="m1")
            print(f"stored={stored}", flush=True)
        elif phase == "after-outbox-claim":
            await app.desk.processor.process_pending()
            claimed = await app.desk.delivery.claim()
            print(f"claimed={len(claimed)}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

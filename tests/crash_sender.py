"""Run by test_delivery_parts.py in a child process: a delivery worker on the real SlackChannel,
which the test kills with SIGKILL while one of its Slack calls is in flight."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

from bot.app import App
from channels.slack import SlackChannel
from core.clock import FakeClock
from tests.conftest import make_settings
from tests.fake_channel import FakeChannel


async def main(database_url: str, folder: str, slack: str, now: str) -> None:
    settings = make_settings(database_url, Path(folder), slack=json.loads(slack))
    channels = [SlackChannel(settings, ping_interval=1.0), FakeChannel(name="email")]
    clock = FakeClock(datetime.fromisoformat(now))
    async with App(
        settings, clock=clock, channels=channels, background=False, web_enabled=False
    ) as app:
        print("sending", flush=True)
        await app.desk.delivery.deliver_due()
        print("sent everything: the test meant to kill this process first", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))

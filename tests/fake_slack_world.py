"""A running Tidings App with the real SlackChannel, a fake Slack and a fake email channel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.app import App
from channels.slack import SlackChannel
from tests.fake_channel import FakeChannel
from tests.fake_slack import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.fake_slack_payloads import SECRET, post_signed

HELP, TRIAGE = "C0HELP", "C0TRIAGE"  # the intake channel and the triage channel


def slack_section(fake: FakeSlack, **overrides: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "enabled": True,
        "mode": "http",
        "bot_token": BOT_TOKEN,
        "signing_secret": SECRET,
        "app_token": APP_TOKEN,
        "api_url": fake.api_url,
        "intake_channels": [HELP],
        "triage_channel": TRIAGE,
    }
    section.update(overrides)
    return section


@dataclass
class SlackWorld:
    """What a test sees: Slack (the fake), the app, the email side, and a way to talk to the app."""

    app: App
    slack: FakeSlack
    email: FakeChannel
    channel: SlackChannel
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.app.web_port}/slack/events"

    async def post(self, body: dict[str, Any] | str, **kwargs: Any) -> tuple[int, str]:
        """Slack delivers `body` to the app, signed; returns the app's HTTP answer."""
        return await post_signed(self.http, self.url, body, **kwargs)

    async def drain(self) -> None:
        await self.app.drain()

    async def tickets(self) -> list[dict[str, Any]]:
        return await self.app.list_tickets()

    async def inbox_size(self) -> int:
        from sqlalchemy import func, select

        from core.storage.models import InboxRow

        async with self.app.db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(InboxRow)) or 0)


@asynccontextmanager
async def slack_world(settings_factory: Any, clock: Any, **slack: Any) -> AsyncIterator[SlackWorld]:
    async with FakeSlack() as fake:
        settings = settings_factory(slack=slack_section(fake, **slack))
        channel = SlackChannel(settings, ping_interval=1.0)
        email = FakeChannel(name="email")
        app = App(settings, clock=clock, channels=[channel, email], background=False)
        async with app, aiohttp.ClientSession() as http:
            yield SlackWorld(app, fake, email, channel, http)

"""Socket Mode (fake apps.connections.open + WebSocket) and the channel's start-up rules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import pytest

from tests.fake_slack_payloads import envelope, message, slash_command, view_submission
from tests.fake_slack_world import SlackWorld, slack_world


@pytest.fixture
async def world(settings_factory: Any, clock: Any) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock, mode="socket", signing_secret="") as running:
        await running.slack.wait_connected()
        yield running


def form(body: str) -> dict[str, Any]:
    """What Socket Mode carries for a command: the same fields, as JSON instead of a form."""
    return dict(parse_qsl(body, keep_blank_values=True))


async def test_socket_mode_connects_with_the_app_token(world: SlackWorld) -> None:
    [opened] = [c for c in world.slack.calls if c.method == "apps.connections.open"]
    assert opened.token == world.slack.app_token
    assert world.channel.problem() is None
    assert world.channel.routes() == [], "no public URL in Socket Mode"
    assert world.slack.calls_to("auth.test") == [], "authorization is local"


async def test_event_over_the_socket_is_stored_before_the_ack(world: SlackWorld) -> None:
    event = message("UCAROL", "D0CAROL", "Laptop will not boot", channel_type="im")
    ack = await world.slack.push(envelope(event))
    assert "envelope_id" in ack
    assert await world.inbox_size() == 1, "stored by the time Slack got its ack"
    again = await world.slack.push(envelope(event), retry_attempt=1)
    assert "envelope_id" in again
    await world.drain()
    [ticket] = await world.tickets()
    assert ticket["reply_target"]["thread"] == event["ts"]
    [reply] = world.slack.posted("D0CAROL")
    assert reply["thread_ts"] == event["ts"] and "T-1" in reply["text"]


async def test_commands_and_forms_over_the_socket(world: SlackWorld) -> None:
    await world.slack.push(form(slash_command("UCAROL", "carol", "")), kind="slash_commands")
    [opened] = world.slack.calls_to("views.open")
    assert opened["view"]["callback_id"] == "tidings_intake"

    submitted = json.loads(form(view_submission(
        "UCAROL", "carol", "tidings_intake",
        {"what": "Monitor flickers", "impact": ("select", "Slows me down")},
    ))["payload"])  # fmt: skip
    await world.slack.push(submitted, kind="interactive")
    await world.drain()
    [ticket] = await world.tickets()
    assert ticket["subject"] == "Monitor flickers" and ticket["priority"] == "normal"

    refused = await world.slack.push(
        form(slash_command("UDAN", "dan", "resolve T-1")), kind="slash_commands"
    )
    assert "not set up as an agent" in refused["payload"]["text"]
    assert (await world.tickets())[0]["status"] == "new"


async def test_a_dropped_socket_is_reopened_and_intake_continues(world: SlackWorld) -> None:
    await world.slack.drop_connections()
    await world.slack.wait_connected()
    opened = [c for c in world.slack.calls if c.method == "apps.connections.open"]
    assert len(opened) == 2, "a fresh URL was asked for"
    event = message("UCAROL", "D0CAROL", "Still there?", channel_type="im")
    assert "envelope_id" in await world.slack.push(envelope(event))
    await world.drain()
    assert len(await world.tickets()) == 1


async def test_start_up_needs_no_slack_and_health_says_what_is_missing(
    settings_factory: Any, clock: Any
) -> None:
    from bot.app import App
    from channels.slack import SlackChannel
    from tests.fake_slack import FakeSlack
    from tests.fake_slack_world import slack_section

    fake = FakeSlack()  # never started: nothing answers at its address
    fake.port = 9  # the discard port on loopback: connection refused
    settings = settings_factory(slack=slack_section(fake, mode="socket"))
    channel = SlackChannel(settings, ping_interval=0.2)
    async with App(settings, clock=clock, channels=[channel], background=False) as app:
        assert channel.problem() == "slack: Socket Mode is not connected"
        assert "slack" in await app.problems()
    assert channel.problem() == "slack: not started"


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"mode": "http", "signing_secret": ""}, "slack.signing_secret"),
        ({"mode": "socket", "app_token": ""}, "slack.app_token"),
        ({"bot_token": ""}, "slack.bot_token"),
        ({"api_url": "http://127.0.0.1:9/api"}, "must end with '/'"),
    ],
)
async def test_missing_settings_stop_start_up_with_the_key_named(
    settings_factory: Any, section: dict[str, Any], named: str
) -> None:
    from channels.slack import SlackChannel
    from core.config import ConfigError
    from tests.fake_slack import FakeSlack
    from tests.fake_slack_world import slack_section

    settings = settings_factory(slack=slack_section(FakeSlack(), **section))
    channel = SlackChannel(settings)
    with pytest.raises(ConfigError, match=named):
        await channel.start(None)  # type: ignore[arg-type]
    assert channel.problem() == "slack: not started"

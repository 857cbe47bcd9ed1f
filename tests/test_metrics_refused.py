"""What the adapters turn away is counted: /metrics, scraped over HTTP and read with
prometheus_client's own parser, shows Slack's forged, oversized, bot and non-agent requests,
Discord's bot messages and non-agent actions, and the ticket page's refused posts, each under
its outcome, with nothing stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from channels.discord.log_menu import LOG_AS_TICKET
from tests.fake_discord_payloads import FakeUser, snowflake
from tests.fake_slack import BOT_ID, BOT_USER
from tests.fake_slack_payloads import envelope, message, message_shortcut, slash_command
from tests.fake_slack_world import HELP, SlackWorld, slack_world
from tests.test_discord_app import Desk
from tests.test_discord_log_as_ticket import desk as discord_desk  # noqa: F401  (fixture)
from tests.test_discord_log_as_ticket import inbox_size
from tests.test_ticket_page import PageDesk, _ann_writes
from tests.test_ticket_page import desk as page_desk  # noqa: F401  (fixture)

Counts = dict[tuple[str, str], float]


async def scrape(http: aiohttp.ClientSession, port: int | None) -> Counts:
    """tidings_inbound_messages_total by (channel, outcome), as a Prometheus server reads it."""
    async with http.get(f"http://127.0.0.1:{port}/metrics") as answer:
        assert answer.status == 200
        body = await answer.text()
    [family] = [f for f in text_string_to_metric_families(body)
                if f.name == "tidings_inbound_messages"]  # fmt: skip
    return {
        (s.labels["channel"], s.labels["outcome"]): s.value
        for s in family.samples
        if s.name == "tidings_inbound_messages_total"
    }


def moved(before: Counts, after: Counts, channel: str) -> dict[str, float]:
    return {
        outcome: value - before.get((name, outcome), 0.0)
        for (name, outcome), value in after.items()
        if name == channel and value != before.get((name, outcome), 0.0)
    }


@pytest.fixture
async def world(settings_factory: Any, clock: Any) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock) as running:
        yield running


async def test_slack_counts_what_it_turns_away(world: SlackWorld) -> None:
    before = await scrape(world.http, world.app.web_port)
    forged = await world.post(envelope(message("UCAROL", HELP, "VPN down")), secret="not it")
    stale = await world.post(envelope(message("UCAROL", HELP, "VPN down")), timestamp=1_000_000)
    huge = json.dumps(envelope(message("UCAROL", HELP, "x" * (3 * 1024 * 1024))))
    async with world.http.post(world.url, data=huge, headers={
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": "0",
        "X-Slack-Signature": "v0=0",
    }) as answer:  # fmt: skip
        oversized = answer.status
    assert (forged[0], stale[0], oversized) == (401, 401, 413)

    ours = message(BOT_USER, HELP, "We have your message", bot_id=BOT_ID)
    assert (await world.post(envelope(ours)))[0] == 200
    other_bot = message("UCIBOT", HELP, "Build 42 failed", bot_id="B0CI")
    assert (await world.post(envelope(other_bot)))[0] == 200
    refused = await world.post(slash_command("UDAN", "dan", "resolve T-1"))
    assert refused[0] == 200 and "not set up as an agent" in json.loads(refused[1])["text"]
    await world.post(message_shortcut("UDAN", "dan", message("UCAROL", "C0RANDOM", "help")))
    await world.drain()

    after = await scrape(world.http, world.app.web_port)
    assert moved(before, after, "slack") == {
        "refused_signature": 2, "refused_too_large": 1, "ignored_self": 1, "ignored_bot": 1,
        "refused_not_agent": 2,
    }  # fmt: skip
    assert await world.inbox_size() == 0 and await world.tickets() == []


async def test_discord_counts_what_it_turns_away(discord_desk: Desk) -> None:  # noqa: F811
    desk, fake = discord_desk, discord_desk.fake
    port = desk.app.web_port
    async with aiohttp.ClientSession() as http:
        before = await scrape(http, port)
        help_channel = fake.guild.channels["help"]
        ci_bot = FakeUser(snowflake(), "ci", bot=True)
        fake.members.append(ci_bot)
        await fake.say(ci_bot, help_channel, "Build 42 failed")
        said = await fake.say(desk.alice, fake.guild.channels["random"], "printer jams")
        await desk.settle()
        assert await inbox_size(desk.app) == 0
        await fake.slash(desk.mallory, "resolve", channel_id=help_channel, ticket="T-1")
        await fake.use_on_message(desk.mallory, said, LOG_AS_TICKET)
        await desk.settle()
        middle = await scrape(http, port)

        await fake.dm(desk.alice, "My VPN drops every 5 minutes")  # the ack echoes back to us
        await desk.settle()
        after = await scrape(http, port)
    assert moved(before, middle, "discord") == {"ignored_bot": 1, "refused_not_agent": 2}
    assert moved(middle, after, "discord")["ignored_self"] >= 1


async def test_the_ticket_page_counts_refused_posts(page_desk: PageDesk) -> None:  # noqa: F811
    desk = page_desk
    path = await _ann_writes(desk)
    before = await scrape(desk.http, desk.app.web_port)
    fields = await desk.form(path)
    assert (await desk.post(path, {**fields, "csrf": "0" * 64, "message": "hi"}))[0] == 403
    assert (await desk.post(path, {**fields, "message": "x" * 40_000}))[0] == 413
    for _ in range(4):  # the page's limit: five posts a minute, the forged one among them
        assert (await desk.post(path, {**fields, "message": "Still broken"}))[0] == 303
    assert (await desk.post(path, {**fields, "message": "Still broken"}))[0] == 429
    after = await scrape(desk.http, desk.app.web_port)
    assert moved(before, after, "web") == {
        "refused_csrf": 1, "refused_too_large": 1, "refused_rate_limited": 1, "accepted": 1,
        "duplicate": 3,  # the same form sent again is the same message
    }  # fmt: skip


def test_an_unknown_outcome_is_a_mistake_not_a_new_label() -> None:
    from core import metrics

    with pytest.raises(ValueError, match="unknown adapter outcome"):
        metrics.turned_away("slack", "refused because the message said so")

"""Satisfaction on Slack: the resolution in Carol's thread has buttons 1–5; her press is her
rating (through the desk), anyone else's is refused, and a low one alerts the triage thread."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fake_slack_payloads import button, envelope, message
from tests.fake_slack_world import HELP, TRIAGE, SlackWorld, slack_world

CAROL = "UCAROL"


@pytest.fixture
async def world(settings_factory: Any, clock: Any) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock) as running:
        yield running


async def _resolved(world: SlackWorld) -> str:
    """Carol reports, Alice resolves; returns the ts of the resolution Carol sees."""
    await world.post(envelope(message(CAROL, HELP, "The VPN drops every 5 minutes")))
    await world.drain()
    assert (await world.app.desk.run_as("alice", "resolve T-1 Rebooted the gateway.")).ok
    await world.drain()
    [resolution] = [p for p in world.slack.posted(HELP) if p.get("blocks")]
    assert "Rebooted the gateway." in resolution["text"]
    [actions] = [block for block in resolution["blocks"] if block["type"] == "actions"]
    labels = [element["text"]["text"] for element in actions["elements"]]
    assert labels == ["1", "2", "3", "4", "5"]
    return world.slack.cards(HELP)[-1]


def _press(user: str, score: int, ts: str) -> str:
    return button(user, user.lower(), f"tidings_rate_{score}", "T-1", channel=HELP, card_ts=ts)


def _whispers(world: SlackWorld, user: str) -> list[str]:
    return [str(w["text"]) for w in world.slack.calls_to("chat.postEphemeral") if w["user"] == user]


async def test_carols_press_is_her_rating_and_nobody_elses_counts(world: SlackWorld) -> None:
    ts = await _resolved(world)

    await world.post(_press("UDAN", 1, ts))
    assert _whispers(world, "UDAN") == ["only the person who asked for T-1 can rate it"]
    await world.post(_press(CAROL, 4, ts))
    assert _whispers(world, CAROL) == ["Thank you: T-1 rated 4 out of 5."]
    await world.post(_press(CAROL, 2, ts))
    assert _whispers(world, CAROL)[-1] == "T-1 is already rated; one rating per ticket"
    await world.drain()

    shown = await world.app.show_ticket(1)
    assert shown is not None and shown["status"] == "resolved"
    assert [e["text"] for e in shown["events"] if e["kind"] == "csat"] == ["4"]
    assert not any("Low rating" in p["text"] for p in world.slack.posted(TRIAGE))


async def test_a_low_press_alerts_the_agents_in_the_cards_thread(world: SlackWorld) -> None:
    ts = await _resolved(world)
    await world.post(_press(CAROL, 1, ts))
    await world.drain()
    card = world.slack.cards(TRIAGE)[0]
    [alert] = [p for p in world.slack.posted(TRIAGE) if "Low rating" in p["text"]]
    assert alert["thread_ts"] == card
    assert "gave 1 out of 5" in alert["text"]


async def test_a_press_on_a_reopened_ticket_changes_nothing(world: SlackWorld) -> None:
    ts = await _resolved(world)
    assert (await world.app.desk.run_as("alice", "reopen T-1")).ok
    await world.post(_press(CAROL, 5, ts))
    assert _whispers(world, CAROL) == ["T-1 is open; only a resolved ticket is rated"]
    shown = await world.app.show_ticket(1)
    assert shown is not None and "csat" not in [e["kind"] for e in shown["events"]]

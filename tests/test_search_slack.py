"""On Slack: `/ticket search`, `/ticket show` and a saved reply, through the real Bolt app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_slack_payloads import envelope, message, slash_command
from tests.fake_slack_world import HELP, SlackWorld, slack_world

ALICE = "UALICE"  # an agent (tests/conftest.py)


@pytest.fixture
async def world(settings_factory: Any, clock: Any, tmp_path: Path) -> AsyncIterator[SlackWorld]:
    folder = tmp_path / "replies"
    folder.mkdir()
    (folder / "vpn-reset.j2").write_text("Hi {{ requester }}, please reset {{ ref }}'s profile.")

    def with_replies(**sections: Any) -> Any:
        return settings_factory(**sections, replies={"dir": str(folder)})

    async with slack_world(with_replies, clock) as running:
        yield running


async def _ask(world: SlackWorld, user: str, words: str) -> str:
    status, body = await world.post(slash_command(user, user.lower(), words))
    assert status == 200
    answer = json.loads(body)
    assert answer["response_type"] == "ephemeral", "only the agent sees the answer"
    return str(answer["text"])


async def test_an_agent_finds_a_ticket_shows_it_and_answers_with_a_saved_reply(
    world: SlackWorld,
) -> None:
    await world.post(envelope(message("UCAROL", HELP, "The VPN drops every 5 minutes")))
    await world.post(envelope(message("UDAN", HELP, "Printer jams on floor 2")))
    await world.drain()

    found = await _ask(world, ALICE, "search vpn")
    assert found.startswith("T-1 [new] The VPN drops every 5 minutes — opened ")
    assert "T-2" not in found
    shown = await _ask(world, ALICE, "show T-1")
    assert "timeline (all events; times in UTC):" in shown
    assert "customer_message" in shown and "The VPN drops every 5 minutes" in shown
    assert "@vpn-reset — Hi {{ requester }}" in await _ask(world, ALICE, "replies")

    assert await _ask(world, ALICE, "reply T-1 @vpn-reset") == 'saved reply "vpn-reset" sent to T-1'
    await world.drain()
    [ticket, _] = await world.tickets()
    assert ticket["status"] == "open" and ticket["assignee"] == "alice"
    said = [call["text"] for call in world.slack.calls_to("chat.postMessage")]
    assert any("please reset T-1's profile." in text for text in said), said


async def test_a_customer_cannot_search(world: SlackWorld) -> None:
    await world.post(envelope(message("UCAROL", HELP, "The VPN drops every 5 minutes")))
    await world.drain()
    refused = await _ask(world, "UCAROL", "search vpn")
    assert "T-1" not in refused and "VPN" not in refused

"""An incident through the real Slack app: the agent uses /ticket, Carol hears it in her Slack
thread, Bob by email, and the triage cards follow."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fake_slack_payloads import envelope, message, slash_command
from tests.fake_slack_world import HELP, TRIAGE, SlackWorld, slack_world

ALICE = "UALICE"  # an agent (tests/conftest.py)


@pytest.fixture
async def world(settings_factory: Any, clock: Any) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock) as running:
        yield running


async def _slash(world: SlackWorld, words: str) -> str:
    status, text = await world.post(slash_command(ALICE, "alice", words))
    assert status == 200
    return str(json.loads(text)["text"])


async def test_an_incident_update_reaches_a_slack_thread_and_a_mailbox(world: SlackWorld) -> None:
    carol = message("UCAROL", HELP, "Card payments fail at checkout")
    await world.post(envelope(carol))
    await world.email.say("bob@example.com", "Cannot pay by card", message_id="<b1@example.com>")
    await world.drain()
    acks = len(world.slack.posted(HELP))

    assert (await _slash(world, "incident Card payments failing")).startswith("INC-1 opened")
    assert await _slash(world, "link T-1 INC-1") == "T-1 linked to INC-1"
    assert await _slash(world, "link T-2 INC-1") == "T-2 linked to INC-1"
    answer = await _slash(world, "reply INC-1 The processor rejects a third of payments.")
    assert answer == "INC-1 (identified) updated; 2 linked ticket(s) told"
    await world.drain()

    [to_carol] = world.slack.posted(HELP)[acks:]
    assert to_carol["thread_ts"] == carol["ts"], "in Carol's own thread"
    assert "Card payments failing (INC-1)" in to_carol["text"]
    assert "The processor rejects a third of payments." in to_carol["text"]
    to_bob = world.email.texts_to("bob@example.com")[-1]
    assert "Card payments failing (INC-1)" in to_bob and "T-2" in to_bob
    assert "The processor rejects a third of payments." in to_bob

    refused = await _slash(world, "link T-9 INC-1")
    assert refused == "there is no ticket T-9"
    answer = await _slash(world, "resolve INC-1 Payments go through again.")
    assert answer == "INC-1 resolved; 2 linked ticket(s) resolved, each told"
    await world.drain()
    assert "Payments go through again." in world.slack.posted(HELP)[-1]["text"]
    assert "We have marked T-2 as resolved" in world.email.texts_to("bob@example.com")[-1]
    assert [t["status"] for t in await world.tickets()] == ["resolved", "resolved"]
    # The triage cards show it: each card was last updated as resolved.
    updates = [call for call in world.slack.calls_to("chat.update") if call["channel"] == TRIAGE]
    assert updates and all("resolved" in json.dumps(call).lower() for call in updates[-2:])

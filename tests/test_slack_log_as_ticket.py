"""The Slack "Log as ticket" shortcut, with the real slack-bolt app over HTTP and a fake
Slack: an agent turns Carol's message in an ordinary channel into Carol's ticket, acknowledged
in its thread."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.fake_slack_payloads import envelope, message, message_shortcut
from tests.fake_slack_world import SlackWorld, slack_world

ALICE = "UALICE"  # an agent (tests/conftest.py)
RANDOM = "C0RANDOM"  # neither an intake nor the triage channel


@pytest.fixture
async def world(settings_factory: Any, clock: Any) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock) as running:
        yield running


def log_as_ticket(world: SlackWorld, user: str, name: str, original: dict[str, Any]) -> str:
    """`user` picks "Log as ticket" on `original`: the payload, with a response_url of its own."""
    return message_shortcut(user, name, original, response_url=world.slack.response_url)


def whispers(world: SlackWorld) -> list[str]:
    """What the agents were told privately through the shortcuts' response_urls, oldest first."""
    answers = world.slack.calls_to("response_url")
    assert all(a["response_type"] == "ephemeral" for a in answers), "only the agent sees it"
    return [a["text"] for a in answers]


async def test_agent_logs_carols_thread_reply_as_her_ticket_acknowledged_in_the_thread(
    world: SlackWorld,
) -> None:
    root = message("UDAN", RANDOM, "Anyone else seeing printer trouble?")
    carol = message("UCAROL", RANDOM, "Yes, the 3rd floor printer jams on every page",
                    thread_ts=root["ts"], user_profile={"display_name": "Carol"})  # fmt: skip
    status, _ = await world.post(log_as_ticket(world, ALICE, "alice", carol))
    assert status == 200
    await world.drain()

    [ticket] = await world.tickets()
    assert ticket["requester"]["address"] == "UCAROL", "the author, not the agent who logged it"
    assert ticket["requester"]["name"] == "Carol"
    assert ticket["subject"] == "Yes, the 3rd floor printer jams on every page"
    assert ticket["reply_target"] == {"channel": "slack", "address": RANDOM, "thread": root["ts"]}
    [ack] = world.slack.posted(RANDOM)
    assert ack["thread_ts"] == root["ts"] and "T-1" in ack["text"]
    assert whispers(world) == [
        "Logged. The acknowledgement with the ticket number will appear in its thread."
    ]
    assert world.slack.calls_to("chat.postEphemeral") == [], "the response_url works anywhere"
    shown = await world.app.show_ticket(1)
    assert shown is not None
    logged = f"Logged as a ticket from a message in <#{RANDOM}> by alice."
    assert any(e["text"] == logged for e in shown["events"]), "agents see who logged it"

    # Carol answers in that thread: it joins her ticket (the thread is the conversation).
    await world.post(envelope(message("UCAROL", RANDOM, "It is the tray 2 one",
                                      thread_ts=root["ts"])))  # fmt: skip
    await world.drain()
    assert len(await world.tickets()) == 1
    shown = await world.app.show_ticket(1)
    assert shown is not None
    assert any(e["text"] == "It is the tray 2 one" for e in shown["events"])


async def test_pressing_it_twice_or_on_another_message_of_the_thread_opens_one_ticket(
    world: SlackWorld,
) -> None:
    carol = message("UCAROL", RANDOM, "The VPN drops every 5 minutes")
    await world.post(log_as_ticket(world, ALICE, "alice", carol))
    await world.post(log_as_ticket(world, ALICE, "alice", carol))
    await world.drain()
    await world.post(log_as_ticket(world, ALICE, "alice", carol))
    more = message("UCAROL", RANDOM, "and now Wi-Fi too", thread_ts=carol["ts"])
    await world.post(log_as_ticket(world, ALICE, "alice", more))
    await world.drain()

    [ticket] = await world.tickets()
    assert ticket["requester"]["address"] == "UCAROL"
    assert len(world.slack.posted(RANDOM)) == 1, "one acknowledgement"
    told = whispers(world)
    assert told[1] == told[2] == "That message was already sent to Tidings."
    shown = await world.app.show_ticket(1)
    assert shown is not None
    assert any(e["text"] == "and now Wi-Fi too" for e in shown["events"])


async def test_a_non_agent_is_refused_privately_and_nothing_changes(world: SlackWorld) -> None:
    carol = message("UCAROL", RANDOM, "my screen flickers since the update")
    status, _ = await world.post(log_as_ticket(world, "UDAN", "dan", carol))
    assert status == 200
    await world.drain()
    assert whispers(world) == ["Sorry, only agents can log a message as a ticket."]
    assert await world.inbox_size() == 0
    assert await world.tickets() == []
    assert world.slack.posted() == []


async def test_without_a_working_response_url_the_agent_is_told_in_the_channel(
    world: SlackWorld,
) -> None:
    carol = message("UCAROL", RANDOM, "The VPN drops every 5 minutes")
    closed = "http://127.0.0.1:1/respond/1"  # nothing listens there: the answer cannot go
    await world.post(message_shortcut(ALICE, "alice", carol, response_url=closed))
    [whisper] = world.slack.calls_to("chat.postEphemeral")
    assert (whisper["user"], whisper["channel"]) == (ALICE, RANDOM)
    assert whisper["text"].startswith("Logged.")
    await world.drain()
    assert len(await world.tickets()) == 1


async def test_a_bots_message_cannot_be_logged(world: SlackWorld) -> None:
    bot_post = message("UOTHERBOT", RANDOM, "Build 42 failed", bot_id="B0CI")
    await world.post(log_as_ticket(world, ALICE, "alice", bot_post))
    await world.drain()
    assert whispers(world) == ["That message was written by a bot, so there is nobody to answer."]
    assert await world.inbox_size() == 0 and await world.tickets() == []


@pytest.fixture
async def socket_world(settings_factory: Any, clock: Any) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock, mode="socket", signing_secret="") as running:
        await running.slack.wait_connected()
        yield running


async def test_over_socket_mode_too(socket_world: SlackWorld) -> None:
    world = socket_world
    carol = message("UCAROL", RANDOM, "The VPN drops every 5 minutes")
    payload = json.loads(parse_qs(log_as_ticket(world, ALICE, "alice", carol))["payload"][0])
    ack = await world.slack.push(payload, kind="interactive")
    assert "envelope_id" in ack
    assert await world.inbox_size() == 1, "stored by the time Slack got its ack"
    await world.slack.push(payload, kind="interactive", retry_attempt=1)
    await world.drain()
    [ticket] = await world.tickets()
    assert ticket["requester"]["address"] == "UCAROL"
    [ack_message] = world.slack.posted(RANDOM)
    assert ack_message["thread_ts"] == carol["ts"] and "T-1" in ack_message["text"]

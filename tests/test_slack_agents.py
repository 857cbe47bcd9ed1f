"""Agents on Slack: /ticket, the intake modal, card buttons and forms, card threads, shortcuts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from channels.slack.outbound import RESOLVE, SET_ETA, TAKE, WAITING
from channels.slack.views import ETA_VIEW, WAIT_VIEW
from tests.fake_slack_payloads import (
    button,
    envelope,
    message,
    message_shortcut,
    slash_command,
    view_submission,
)
from tests.fake_slack_world import HELP, TRIAGE, SlackWorld, slack_world

ALICE = "UALICE"  # an agent (tests/conftest.py)


@pytest.fixture
async def world(settings_factory: Any, clock: Any) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock) as running:
        yield running


async def open_ticket(world: SlackWorld, text: str = "The VPN drops every 5 minutes") -> str:
    """Carol reports in the intake channel; returns the ts of the ticket's triage card."""
    await world.post(envelope(message("UCAROL", HELP, text)))
    await world.drain()
    return card_ts(world)


def card_ts(world: SlackWorld) -> str:
    return world.slack.cards(TRIAGE)[0]


async def test_ticket_with_no_words_opens_the_intake_modal(world: SlackWorld) -> None:
    status, text = await world.post(slash_command("UCAROL", "carol", ""))
    assert status == 200 and text == ""
    [opened] = world.slack.calls_to("views.open")
    assert opened["view"]["callback_id"] == "tidings_intake"
    labels = [block["label"]["text"] for block in opened["view"]["blocks"]]
    assert labels == [f.label for f in world.app.settings.intake.fields]


async def test_intake_modal_opens_a_ticket_answered_in_a_dm_thread(world: SlackWorld) -> None:
    form = view_submission(
        "UCAROL", "carol", "tidings_intake",
        {"what": "Cannot log in to the CRM", "impact": ("select", "I can't work"),
         "since": "since 9:00, only the CRM"},
    )  # fmt: skip
    status, _ = await world.post(form)
    assert status == 200
    await world.drain()

    [ticket] = await world.tickets()
    assert ticket["subject"] == "Cannot log in to the CRM"
    assert ticket["priority"] == "high"
    [ack] = world.slack.posted("UCAROL")  # a post to the user id opens the DM
    assert "T-1" in ack["text"] and "thread_ts" not in ack
    dm = ticket["reply_target"]
    assert dm["address"] == "D" + "CAROL" and dm["thread"]

    assert (await world.app.desk.run_as("alice", "reply T-1 Reset your token, please")).ok
    await world.drain()
    [reply] = world.slack.posted(dm["address"])
    assert reply["thread_ts"] == dm["thread"]
    assert "Reset your token" in reply["text"]

    carol_writes = message("UCAROL", dm["address"], "Done, works now", channel_type="im",
                           thread_ts=dm["thread"])  # fmt: skip
    await world.post(envelope(carol_writes))
    await world.drain()
    assert len(await world.tickets()) == 1


async def test_non_agent_cannot_resolve_and_nothing_changes(world: SlackWorld) -> None:
    await open_ticket(world)
    status, text = await world.post(slash_command("UDAN", "dan", "resolve T-1 fixed it myself"))
    assert status == 200
    assert "not set up as an agent" in json.loads(text)["text"]
    await world.drain()
    [ticket] = await world.tickets()
    assert ticket["status"] == "new"


async def test_agent_commands_answer_ephemerally(world: SlackWorld) -> None:
    await open_ticket(world)
    status, text = await world.post(slash_command(ALICE, "alice", "eta T-1 tomorrow 15:00"))
    answer = json.loads(text)
    assert status == 200 and answer["response_type"] == "ephemeral"
    [ticket] = await world.tickets()
    assert ticket["eta"] == "2026-11-24T15:00:00Z"
    _, text = await world.post(slash_command(ALICE, "alice", "eta T-1 yesterday"))
    assert (await world.tickets())[0]["eta"] == "2026-11-24T15:00:00Z", "bad input changes nothing"
    assert json.loads(text)["text"]


async def test_take_button_assigns_and_the_card_is_updated(world: SlackWorld) -> None:
    ts = await open_ticket(world)
    await world.post(button(ALICE, "alice", TAKE, "T-1", channel=TRIAGE, card_ts=ts))
    [whisper] = world.slack.calls_to("chat.postEphemeral")
    assert whisper["user"] == ALICE and whisper["channel"] == TRIAGE
    await world.drain()
    assert (await world.tickets())[0]["assignee"] == "alice"
    [update] = world.slack.calls_to("chat.update")
    assert update["ts"] == ts and update["channel"] == TRIAGE
    assert "alice" in json.dumps(update["blocks"])


async def test_resolve_button_from_a_non_agent_is_refused(world: SlackWorld) -> None:
    ts = await open_ticket(world)
    await world.post(button("UDAN", "dan", RESOLVE, "T-1", channel=TRIAGE, card_ts=ts))
    [whisper] = world.slack.calls_to("chat.postEphemeral")
    assert "not set up as an agent" in whisper["text"]
    assert (await world.tickets())[0]["status"] == "new"


async def test_set_eta_button_opens_a_form_and_its_answer_sets_the_eta(
    world: SlackWorld, clock: Any
) -> None:
    ts = await open_ticket(world)
    await world.post(button(ALICE, "alice", SET_ETA, "T-1", channel=TRIAGE, card_ts=ts))
    [opened] = world.slack.calls_to("views.open")
    metadata = opened["view"]["private_metadata"]
    assert opened["view"]["callback_id"] == ETA_VIEW

    bad = view_submission(ALICE, "alice", ETA_VIEW, {"when": "someday"}, metadata=metadata)
    status, text = await world.post(bad)
    assert status == 200 and json.loads(text)["response_action"] == "errors"
    assert (await world.tickets())[0]["eta"] is None

    good = view_submission(ALICE, "alice", ETA_VIEW,
                           {"when": "tomorrow 15:00", "text": "Patching the gateway"},
                           metadata=metadata)  # fmt: skip
    status, text = await world.post(good)
    assert status == 200 and text == ""
    clock.advance(world.app.settings.reminders.settle)  # an ETA notice waits for a newer one
    await world.drain()
    assert (await world.tickets())[0]["eta"] == "2026-11-24T15:00:00Z"
    to_carol = world.slack.posted(HELP)[-1]["text"]
    assert "Patching the gateway" in to_carol


async def test_waiting_form_tells_the_customer_what_we_wait_for(world: SlackWorld) -> None:
    ts = await open_ticket(world)
    await world.post(button(ALICE, "alice", WAITING, "T-1", channel=TRIAGE, card_ts=ts))
    metadata = world.slack.calls_to("views.open")[0]["view"]["private_metadata"]
    form = view_submission(ALICE, "alice", WAIT_VIEW,
                           {"what": "the vendor's \"hotfix\"", "text": "They promised Friday."},
                           metadata=metadata)  # fmt: skip
    assert (await world.post(form))[0] == 200
    await world.drain()
    [ticket] = await world.tickets()
    assert ticket["status"] == "waiting"
    assert ticket["waiting_on"] == "the vendor’s “hotfix“"


async def test_agent_reply_in_card_thread_reaches_the_slack_customer(world: SlackWorld) -> None:
    ts = await open_ticket(world)
    await world.post(envelope(message(ALICE, TRIAGE, "Restarting the VPN concentrator now",
                                      thread_ts=ts)))  # fmt: skip
    await world.post(
        envelope(message(ALICE, TRIAGE, "note: the concentrator is EOL", thread_ts=ts))
    )
    await world.drain()
    texts = [m["text"] for m in world.slack.posted(HELP)]
    assert any("Restarting the VPN concentrator now" in t for t in texts)
    assert not any("EOL" in t for t in texts), "a note stays internal"
    kinds = [e["kind"] for e in (await world.app.show_ticket(1))["events"]]
    assert "agent_reply" in kinds and "note" in kinds


async def test_agent_reply_in_card_thread_reaches_an_email_customer(world: SlackWorld) -> None:
    await world.email.say("bob@example.com", "Invoice 1042 is wrong", message_id="<m1@example.com>")
    await world.drain()
    ts = card_ts(world)
    await world.post(envelope(message(ALICE, TRIAGE, "Corrected invoice attached &lt;soon&gt;",
                                      thread_ts=ts)))  # fmt: skip
    await world.drain()
    to_bob = world.email.texts_to("bob@example.com")
    assert any("Corrected invoice attached <soon>" in text for text in to_bob)


async def test_open_ticket_shortcut_is_for_agents(world: SlackWorld) -> None:
    original = message("UCAROL", "C0RANDOM", "my screen flickers since the update")
    await world.post(message_shortcut("UDAN", "dan", original))
    assert "only agents" in world.slack.calls_to("chat.postEphemeral")[-1]["text"]
    await world.post(message_shortcut(ALICE, "alice", original))
    await world.drain()
    [ticket] = await world.tickets()
    assert ticket["requester"]["address"] == "UCAROL"
    [ack] = world.slack.posted("C0RANDOM")
    assert ack["thread_ts"] == original["ts"]


async def test_promise_loop_nudges_in_the_card_thread_then_updates_the_customer(
    world: SlackWorld, clock: Any
) -> None:
    from datetime import timedelta

    ts = await open_ticket(world)
    [ack] = world.slack.posted(HELP)
    clock.advance(timedelta(hours=23, minutes=50))  # the next update is due in 10 minutes
    await world.drain()
    [nudge] = [m for m in world.slack.posted(TRIAGE) if m.get("thread_ts") == ts]
    assert "T-1" in nudge["text"]
    assert world.slack.posted(HELP) == [ack], "agents first; the customer hears nothing yet"

    clock.advance(timedelta(minutes=11))
    await world.drain()
    update = world.slack.posted(HELP)[-1]
    assert update is not ack and update["thread_ts"] == ack["thread_ts"]
    assert world.slack.calls_to("chat.update")[-1]["ts"] == ts, "the card shows the new due time"


async def test_when_the_eta_form_cannot_open_the_agent_is_told_the_command(
    world: SlackWorld,
) -> None:
    ts = await open_ticket(world)
    world.slack.fail("views.open", error="expired_trigger_id")
    status, _ = await world.post(button(ALICE, "alice", SET_ETA, "T-1", channel=TRIAGE, card_ts=ts))
    assert status == 200
    [whisper] = world.slack.calls_to("chat.postEphemeral")
    assert "expired_trigger_id" in whisper["text"] and "/ticket eta T-1" in whisper["text"]


async def test_when_the_intake_form_cannot_open_the_person_is_told_what_to_do(
    world: SlackWorld,
) -> None:
    world.slack.fail("views.open", error="expired_trigger_id")
    status, text = await world.post(slash_command("UCAROL", "carol", "new"))
    assert status == 200 and "direct message" in json.loads(text)["text"]

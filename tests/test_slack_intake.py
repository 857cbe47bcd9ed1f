"""Slack intake over real HTTP: signed events into the running app, answers read off fake Slack."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fake_slack import BOT_USER
from tests.fake_slack_payloads import (
    bot_message,
    envelope,
    file_share,
    message,
    message_changed,
)
from tests.fake_slack_world import HELP, TRIAGE, SlackWorld, slack_world


@pytest.fixture
async def world(settings_factory: Any, clock: Any) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock) as running:
        yield running


async def test_dm_opens_one_ticket_and_the_ack_lands_in_its_thread(world: SlackWorld) -> None:
    event = message("UCAROL", "D0CAROL", "My VPN drops every 5 minutes", channel_type="im")
    assert (await world.post(envelope(event)))[0] == 200
    await world.drain()

    [ticket] = await world.tickets()
    assert ticket["ref"] == "T-1" and ticket["subject"] == "My VPN drops every 5 minutes"
    assert ticket["reply_target"] == {
        "channel": "slack",
        "address": "D0CAROL",
        "thread": event["ts"],
    }
    [ack] = world.slack.posted("D0CAROL")
    assert ack["thread_ts"] == event["ts"] and "T-1" in ack["text"]
    [card] = world.slack.posted(TRIAGE)
    assert "T-1" in card["text"] and any(b["type"] == "actions" for b in card["blocks"])
    assert world.slack.calls_to("auth.test") == [], "no Slack round trip to authorize"


async def test_slack_retry_of_the_same_event_creates_nothing(world: SlackWorld) -> None:
    body = envelope(message("UCAROL", "D0CAROL", "Outlook crashes on start", channel_type="im"))
    assert (await world.post(body))[0] == 200
    assert (await world.post(body, retry_num=1))[0] == 200
    assert (await world.post(body, retry_num=2))[0] == 200
    await world.drain()
    assert len(await world.tickets()) == 1
    assert len(world.slack.posted("D0CAROL")) == 1


async def test_message_and_app_mention_of_one_message_make_one_ticket(world: SlackWorld) -> None:
    text = f"<@{BOT_USER}> the wiki returns 502"
    plain = message("UCAROL", HELP, text)
    mention = message("UCAROL", HELP, text, ts=plain["ts"], kind="app_mention")
    assert (await world.post(envelope(plain)))[0] == 200
    assert (await world.post(envelope(mention)))[0] == 200
    await world.drain()
    [ticket] = await world.tickets()
    assert ticket["subject"] == "the wiki returns 502"
    [ack] = world.slack.posted(HELP)
    assert ack["thread_ts"] == plain["ts"]


async def test_app_mention_elsewhere_opens_a_ticket_in_that_thread(world: SlackWorld) -> None:
    mention = message(
        "UCAROL", "C0RANDOM", f"<@{BOT_USER}> badge reader broken", kind="app_mention"
    )
    await world.post(envelope(mention))
    chatter = message("UDAN", "C0RANDOM", "anyone for lunch?")
    await world.post(envelope(chatter))
    await world.drain()
    [ticket] = await world.tickets()
    assert ticket["reply_target"]["address"] == "C0RANDOM"
    [ack] = world.slack.posted("C0RANDOM")
    assert ack["thread_ts"] == mention["ts"]
    assert await world.inbox_size() == 1, "idle chatter is not even stored"


async def test_top_level_message_in_intake_channel_and_its_thread(world: SlackWorld) -> None:
    root = message("UCAROL", HELP, "Printer on floor 2 jammed")
    await world.post(envelope(root))
    await world.drain()
    reply = message("UCAROL", HELP, "It is making a grinding noise now", thread_ts=root["ts"])
    await world.post(envelope(reply))
    await world.drain()

    [ticket] = await world.tickets()
    shown = await world.app.show_ticket(ticket["number"])
    customer = [e["text"] for e in shown["events"] if e["kind"] == "customer_message"]
    assert customer == ["Printer on floor 2 jammed", "It is making a grinding noise now"]


@pytest.mark.parametrize(
    "event",
    [
        bot_message(HELP, "deploy finished"),
        bot_message(HELP, "T-9 logged", ours=True),
        message_changed("UCAROL", HELP, "1763900001.000200", "edited text"),
        message("UCAROL", HELP, "", subtype="message_deleted"),
    ],
    ids=["other-bot", "our-own-post", "edit", "delete"],
)
async def test_bots_edits_and_deletes_make_nothing(world: SlackWorld, event: dict) -> None:
    assert (await world.post(envelope(event)))[0] == 200
    await world.drain()
    assert await world.tickets() == []
    assert world.slack.posted() == []
    assert await world.inbox_size() == 0


async def test_file_share_records_the_attachment(world: SlackWorld) -> None:
    shot = world.slack.host_file("vpn-error.png", bytes(48213), "image/png")
    await world.post(envelope(file_share("UCAROL", HELP, "screenshot of the error", files=[shot])))
    await world.drain()
    [ticket] = await world.tickets()
    [attachment] = (await world.app.show_ticket(ticket["number"]))["attachments"]
    assert attachment["name"] == "vpn-error.png" and attachment["size"] == 48213
    assert attachment["content_type"] == "image/png"


async def test_forged_or_stale_signatures_are_refused_and_nothing_is_stored(
    world: SlackWorld,
) -> None:
    body = envelope(message("UCAROL", "D0CAROL", "please reset my password", channel_type="im"))
    assert (await world.post(body, secret="not-the-secret"))[0] == 401
    stale = int(time.time()) - 6 * 60
    assert (await world.post(body, timestamp=stale))[0] == 401
    await world.drain()
    assert await world.inbox_size() == 0
    assert await world.tickets() == []


async def test_url_verification_echoes_the_challenge(world: SlackWorld) -> None:
    body = {"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification"}  # fmt: skip
    status, text = await world.post(body)
    assert status == 200
    assert json.loads(text)["challenge"] == body["challenge"]


async def test_events_we_do_not_handle_are_acknowledged(world: SlackWorld) -> None:
    body = envelope({"type": "reaction_added", "user": "UCAROL", "reaction": "eyes",
                     "item": {"type": "message", "channel": HELP, "ts": "1.2"},
                     "event_ts": "1763900000.1"})  # fmt: skip
    assert (await world.post(body))[0] == 200
    assert await world.inbox_size() == 0


async def test_replies_in_a_mention_thread_join_and_other_threads_stay_private(
    world: SlackWorld,
) -> None:
    mention = message(
        "UCAROL", "C0RANDOM", f"<@{BOT_USER}> badge reader broken", kind="app_mention"
    )
    await world.post(envelope(mention))
    await world.drain()
    follow_up = message("UCAROL", "C0RANDOM", "it beeps red now", thread_ts=mention["ts"])
    await world.post(envelope(follow_up))
    elsewhere = message("UDAN", "C0RANDOM", "nice", thread_ts="1763800000.000100")
    await world.post(envelope(elsewhere))
    await world.drain()

    [ticket] = await world.tickets()
    shown = await world.app.show_ticket(ticket["number"])
    said = [e["text"] for e in shown["events"] if e["kind"] == "customer_message"]
    assert said == ["badge reader broken", "it beeps red now"]


async def test_an_agent_answering_in_the_customer_thread_is_not_sent_twice(
    world: SlackWorld,
) -> None:
    root = message("UCAROL", HELP, "Projector in room 4 is blank")
    await world.post(envelope(root))
    await world.drain()
    await world.post(
        envelope(message("UALICE", HELP, "Try the HDMI 2 input", thread_ts=root["ts"]))
    )
    await world.drain()
    assert [m["text"] for m in world.slack.posted(HELP)][1:] == [], "only our ack was posted"
    shown = await world.app.show_ticket(1)
    [reply] = [e for e in shown["events"] if e["kind"] == "agent_reply"]
    assert reply["text"] == "Try the HDMI 2 input" and reply["visibility"] == "public"
    assert shown["assignee"] == "alice" and shown["status"] == "open"
    # It counts as the customer's update: the next one is owed a cadence from now.
    assert shown["promises"][0]["kept"] is True

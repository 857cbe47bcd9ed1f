"""Sending to Slack: rate limits retried, failures classified, cards edited or re-posted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from core.channel import DeliveryError, OutboundMessage, ReplyTarget
from core.clock import FakeClock
from tests.fake_slack_payloads import envelope, message
from tests.fake_slack_world import HELP, TRIAGE, SlackWorld, slack_world


@pytest.fixture
async def world(settings_factory: Any, clock: Any) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock) as running:
        yield running


def note(text: str = "Your ticket T-1 is logged") -> OutboundMessage:
    return OutboundMessage(ticket_ref="T-1", subject="VPN", text=text, kind="ack",
                           automatic=True, token="tok-1")  # fmt: skip


async def report(world: SlackWorld, text: str = "The VPN drops every 5 minutes") -> dict:
    event = message("UCAROL", HELP, text)
    await world.post(envelope(event))
    return event


async def test_a_short_rate_limit_is_waited_out_in_place(world: SlackWorld) -> None:
    world.slack.fail("chat.postMessage", status=429, retry_after=1)
    event = await report(world)
    await world.drain()
    [ack] = world.slack.posted(HELP)
    assert ack["thread_ts"] == event["ts"] and "T-1" in ack["text"]
    assert len(world.slack.cards(TRIAGE)) == 1
    attempts = world.slack.calls_to("chat.postMessage")
    assert len(attempts) == 3, "ack and card delivered; the 429 was retried by the client itself"


async def test_a_long_rate_limit_goes_back_to_the_outbox(
    world: SlackWorld, clock: FakeClock
) -> None:
    world.slack.fail("chat.postMessage", status=429, retry_after=30)
    with pytest.raises(DeliveryError) as caught:
        await world.channel.send(ReplyTarget("slack", HELP, "1.1"), note())
    assert caught.value.retry_after == 30 and not caught.value.permanent
    assert len(world.slack.calls_to("chat.postMessage")) == 1, "not slept on in place"

    world.slack.fail("chat.postMessage", status=429, retry_after=30)
    event = await report(world)
    await world.drain()
    assert len(world.slack.posted()) == 1, "one of ack and card waits for its Retry-After"
    clock.advance(timedelta(seconds=31))
    await world.drain()
    [ack] = world.slack.posted(HELP)
    assert ack["thread_ts"] == event["ts"]
    assert len(world.slack.cards(TRIAGE)) == 1


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived"])
async def test_a_message_slack_refuses_is_a_permanent_failure(
    world: SlackWorld, error: str
) -> None:
    world.slack.fail("chat.postMessage", error=error)
    with pytest.raises(DeliveryError) as caught:
        await world.channel.send(ReplyTarget("slack", "C0GONE", "1.1"), note())
    assert caught.value.permanent and error in caught.value.reason


async def test_server_errors_are_temporary(world: SlackWorld) -> None:
    world.slack.fail("chat.postMessage", status=503)
    with pytest.raises(DeliveryError) as caught:
        await world.channel.send(ReplyTarget("slack", HELP, "1.1"), note())
    assert not caught.value.permanent and "503" in caught.value.reason
    result = await world.channel.send(ReplyTarget("slack", HELP, "1.1"), note())
    assert result.external_id.startswith(f"{HELP}:")


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (502, "<html><body>502 Bad Gateway</body></html>", "text/html"),
        (200, '{"ok": tru', "application/json"),
    ],
    ids=["proxy-html", "broken-json"],
)
async def test_unreadable_answers_are_temporary(
    world: SlackWorld, status: int, body: str, content_type: str
) -> None:
    world.slack.fail("chat.postMessage", status=status, body=body, content_type=content_type)
    with pytest.raises(DeliveryError) as caught:
        await world.channel.send(ReplyTarget("slack", HELP, "1.1"), note())
    assert not caught.value.permanent and str(status) in caught.value.reason


async def test_a_revoked_token_shows_on_healthz_until_sending_works(world: SlackWorld) -> None:
    world.slack.fail("chat.postMessage", error="token_revoked")
    with pytest.raises(DeliveryError) as caught:
        await world.channel.send(ReplyTarget("slack", HELP, "1.1"), note())
    assert not caught.value.permanent, "an operator can fix it; keep the message"
    async with world.http.get(f"http://127.0.0.1:{world.app.web_port}/healthz") as response:
        assert response.status == 200, "Slack's problem: degraded, not a reason to restart"
        body = await response.json()
        assert body["status"] == "degraded"
        assert "token_revoked" in body["problems"]["slack"]
    await world.channel.send(ReplyTarget("slack", HELP, "1.1"), note())
    assert world.channel.problem() is None


async def test_customer_text_cannot_ping_the_channel(world: SlackWorld) -> None:
    await world.channel.send(ReplyTarget("slack", HELP, "1.1"), note("Hi <!channel> <@UBOSS>"))
    [sent] = world.slack.posted(HELP)
    assert sent["text"] == "Hi &lt;!channel&gt; &lt;@UBOSS&gt;"


async def test_a_deleted_card_is_posted_again(world: SlackWorld) -> None:
    await report(world)
    await world.drain()
    [first] = world.slack.cards(TRIAGE)
    world.slack.fail("chat.update", error="message_not_found")
    assert (await world.app.desk.run_as("alice", "take T-1")).ok
    await world.drain()
    cards = world.slack.cards(TRIAGE)
    assert len(cards) == 2 and cards[0] == first
    # The new card's thread works like the old one: an agent's answer reaches the customer.
    reply = message("UALICE", TRIAGE, "On it, new card here", thread_ts=cards[1])
    await world.post(envelope(reply))
    await world.drain()
    assert "On it, new card here" in world.slack.posted(HELP)[-1]["text"]
    assert world.slack.calls_to("chat.update")[-1]["ts"] == cards[1], "later edits go to it"
    assert len(world.slack.cards(TRIAGE)) == 2, "and no third card"

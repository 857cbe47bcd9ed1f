"""A customer's journey through the core with a fake channel: what they received, and when."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.clock import FakeClock


async def test_message_becomes_ticket_and_is_acknowledged_on_the_same_target(
    desk_app: Any, clock: FakeClock
) -> None:
    fake = desk_app.fake
    assert await fake.say("carol", "The VPN drops every 5 minutes", message_id="m1", name="Carol")
    await desk_app.drain()

    [ticket] = await desk_app.list_tickets()
    assert ticket["ref"] == "T-1"
    assert ticket["status"] == "new"
    assert ticket["subject"] == "The VPN drops every 5 minutes"
    assert ticket["requester"]["name"] == "Carol"
    [ack] = fake.sent
    assert ack.target.address == "carol" and ack.target.thread == "m1"
    assert "T-1" in ack.message.text and "hear from us by" in ack.message.text
    assert ack.message.automatic and ack.message.kind == "ack"
    assert ticket["next_update_due"] == "2026-11-24T09:00:00Z"  # normal cadence: 1 day


async def test_agent_reply_resolve_and_reopen_within_window(
    desk_app: Any, clock: FakeClock
) -> None:
    fake = desk_app.fake
    await fake.say("carol", "Printer on floor 2 is jammed", message_id="m1")
    await desk_app.drain()

    clock.advance(timedelta(minutes=20))
    reply = await desk_app.desk.run_as("alice", "reply T-1 I've sent someone to clear it.")
    assert reply.ok, reply.text
    await desk_app.drain()
    assert "I've sent someone to clear it." in fake.sent[-1].message.text
    assert fake.sent[-1].target.thread == "m1"
    shown = await desk_app.show_ticket(1)
    assert shown["status"] == "open" and shown["assignee"] == "alice"

    resolved = await desk_app.desk.run_as("alice", "resolve #1 Cleared and tested.")
    assert resolved.ok
    await desk_app.drain()
    assert "resolved" in fake.sent[-1].message.text

    clock.advance(timedelta(days=2))
    await fake.say("carol", "It jammed again", message_id="m2", thread="m1")
    await desk_app.drain()
    tickets = await desk_app.list_tickets()
    assert len(tickets) == 1, "a reply inside the reopen window must not open a new ticket"
    assert tickets[0]["status"] == "open"
    assert "reopened" in fake.sent[-1].message.text
    kinds = [event["kind"] for event in (await desk_app.show_ticket(1))["events"]]
    assert kinds == [
        "customer_message",
        "ack",
        "agent_reply",
        "resolved",
        "customer_message",
        "reopened",
    ]


async def test_message_on_closed_ticket_opens_a_linked_ticket(
    desk_app: Any, clock: FakeClock
) -> None:
    fake = desk_app.fake
    await fake.say("dan", "Need a new laptop charger", message_id="m1")
    await desk_app.drain()
    assert (await desk_app.desk.run_as("alice", "resolve 1")).ok
    assert (await desk_app.desk.run_as("alice", "close T-1")).ok
    await fake.say("dan", "The new charger is broken too", message_id="m2", thread="m1")
    await desk_app.drain()
    tickets = await desk_app.list_tickets()
    assert [t["ref"] for t in tickets] == ["T-1", "T-2"]
    assert tickets[1]["linked_ticket"] == "T-1"
    assert tickets[0]["status"] == "closed"


async def test_replayed_payload_creates_nothing_twice(desk_app: Any) -> None:
    fake = desk_app.fake
    assert await fake.say("erin", "Wifi is down", message_id="m1") is True
    assert await fake.say("erin", "Wifi is down", message_id="m1") is False
    await desk_app.drain()
    assert len(await desk_app.list_tickets()) == 1
    assert len(fake.sent) == 1


async def test_bad_commands_get_specific_errors_and_change_nothing(
    desk_app: Any, clock: FakeClock
) -> None:
    await desk_app.fake.say("carol", "Screen flickers", message_id="m1")
    await desk_app.drain()
    before = await desk_app.show_ticket(1)
    cases = {
        "reply T-99 hello": "there is no ticket T-99",
        "reply T-1": "missing text",
        "eta T-1 someday": "is not a time",
        "eta T-1 2020-01-01 09:00": "in the past",
        "priority T-1 extreme": "not a priority",
        "assign T-1 mallory": "not an agent",
        "frobnicate T-1": 'unknown command "frobnicate"',
        "reply X-1 hi": "is not a ticket",
        "reopen T-1": "not resolved or closed",
    }
    for words, expected in cases.items():
        reply = await desk_app.desk.run_as("alice", words)
        assert not reply.ok and expected in reply.text, (words, reply.text)
    assert await desk_app.show_ticket(1) == before
    from core.channel import Actor

    refused = await desk_app.desk.command(Actor("slack", "USTRANGER"), "resolve T-1")
    assert not refused.ok and "not set up as an agent" in refused.text
    assert await desk_app.show_ticket(1) == before

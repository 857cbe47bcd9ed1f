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
        "csat_asked",  # the resolution asked how we did
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


async def test_a_burst_of_new_messages_opens_tickets_together_in_arrival_order(
    desk_app: Any, clock: FakeClock
) -> None:
    fake = desk_app.fake
    assert await fake.say("carol", "The VPN drops every 5 minutes", message_id="m1", name="Carol")
    assert await fake.say("dave", "Printer jammed", message_id="m2")
    # Carol follows up before the desk has read her first message: same conversation.
    assert await fake.say("carol", "Also on the guest Wi-Fi", message_id="m3", thread="m1")
    assert not await fake.say("dave", "Printer jammed", message_id="m2")  # sent twice
    assert await fake.say("erin", "Cannot log in", message_id="m4", name="Erin")
    assert await fake.say("bot", "I am away", message_id="m5", kind="auto_reply")
    await desk_app.drain()

    tickets = await desk_app.list_tickets()
    assert [(t["ref"], t["requester"]["address"]) for t in tickets] == [
        ("T-1", "carol"), ("T-2", "dave"), ("T-3", "erin"),
    ]  # fmt: skip
    assert desk_app.desk.processor.opened_in_bulk == 3
    carol = await desk_app.show_ticket(1)
    assert [e["kind"] for e in carol["events"]] == ["customer_message", "ack", "customer_message"]
    assert carol["events"][1]["text"] == fake.texts_to("carol")[0]
    assert [len(fake.texts_to(user)) for user in ("carol", "dave", "erin", "bot")] == [1, 1, 1, 0]
    [erin_ack] = [s for s in fake.sent if s.target.address == "erin"]
    assert erin_ack.target.thread == "m4" and "T-3" in erin_ack.message.text
    assert "Erin" in erin_ack.message.text
    # Each promised its next update; a reply in the acknowledgement's thread finds the ticket.
    assert all(t["next_update_due"] for t in tickets)
    await fake.say("erin", "Still locked out", message_id="m6", thread="m4")
    await desk_app.drain()
    assert len(await desk_app.list_tickets()) == 3


async def test_when_opening_together_fails_each_message_is_applied_alone(
    desk_app: Any, clock: FakeClock, monkeypatch: Any
) -> None:
    import core.intake.processor

    def refuse_groups(ctx: Any, connection: Any, items: Any) -> list[int]:
        raise RuntimeError("simulated failure of the grouped insert")

    # Opening together fails (there is one way to open together now, on every backend).
    monkeypatch.setattr(core.intake.processor, "open_tickets_now", refuse_groups)
    fake = desk_app.fake
    await fake.say("carol", "The VPN drops", message_id="m1")
    await fake.say("dave", "Printer jammed", message_id="m2")
    await desk_app.drain()
    tickets = await desk_app.list_tickets()
    assert [t["ref"] for t in tickets] == ["T-1", "T-2"]
    assert desk_app.desk.processor.opened_in_bulk == 0
    assert [len(fake.texts_to(user)) for user in ("carol", "dave")] == [1, 1]


async def test_messages_arriving_together_share_a_commit_and_duplicates_are_told_apart(
    desk_app: Any, clock: FakeClock
) -> None:
    import asyncio

    fake = desk_app.fake
    assert await fake.say("carol", "The VPN drops", message_id="m1")
    writer = desk_app.desk.writer
    batches = writer.batches
    answers = await asyncio.gather(
        fake.say("dave", "Printer jammed", message_id="m2"),
        fake.say("dave", "Printer jammed", message_id="m2"),  # his client sent it twice
        fake.say("carol", "The VPN drops", message_id="m1"),  # stored before
        fake.say("erin", "Cannot log in", message_id="m3"),
    )
    assert answers == [True, False, False, True]
    assert writer.batches == batches + 1, "one transaction for the four"
    await desk_app.drain()
    assert [t["requester"]["address"] for t in await desk_app.list_tickets()] == [
        "carol", "dave", "erin",
    ]  # fmt: skip


async def test_a_burst_of_large_messages_is_read_a_few_at_a_time_in_arrival_order(
    desk_app: Any, clock: FakeClock, monkeypatch: Any
) -> None:
    import core.intake.processor

    # Three large payloads fit the processor's memory budget only one or two at a time.
    monkeypatch.setattr(core.intake.processor, "BATCH_BYTES", 2 * 4000)
    fake = desk_app.fake
    for n, user in enumerate(["carol", "dave", "erin", "frank"], start=1):
        assert await fake.say(user, f"Log attached: {'x' * 4000}", message_id=f"m{n}")
    processor = desk_app.desk.processor
    assert await processor.process_pending() == 1  # 4 KB and a bit: a second would not fit
    handled = [await processor.process_pending() for _ in range(4)]
    assert handled == [1, 1, 1, 0]
    tickets = await desk_app.list_tickets()
    assert [(t["ref"], t["requester"]["address"]) for t in tickets] == [
        ("T-1", "carol"), ("T-2", "dave"), ("T-3", "erin"), ("T-4", "frank"),
    ]  # fmt: skip


def test_the_batch_budget_always_takes_the_first_row() -> None:
    from core.intake.processor import _within_budget

    assert _within_budget([(1, 50), (2, 50), (3, 50)], 100) == [1, 2]
    assert _within_budget([(7, 5000), (8, 1)], 100) == [7]  # one row larger than the budget
    assert _within_budget([(1, None), (2, 10)], 5) == [1]
    assert _within_budget([], 100) == []

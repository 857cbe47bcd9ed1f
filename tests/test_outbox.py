"""Delivery: retries with backoff and Retry-After, dead letters with an alert, leases."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.app import App
from core.channel import DeliveryError, OutboundMessage, ReplyTarget, SendResult
from core.clock import FakeClock
from core.delivery.worker import LEASE, MAX_ATTEMPTS, backoff, spread
from core.storage.models import OutboxRow, TicketEvent, TicketRef
from tests.fake_channel import FakeChannel


@contextlib.asynccontextmanager
async def _with_triage(
    settings_factory: Any, clock: FakeClock
) -> AsyncIterator[tuple[App, FakeChannel, FakeChannel]]:
    """An app with a customer's channel and a Slack triage channel for the agents."""
    customer, triage = FakeChannel("fake"), FakeChannel("slack")
    settings = settings_factory(slack={"enabled": True, "triage_channel": "CTRIAGE"})
    async with App(settings, clock=clock, channels=[customer, triage], background=False) as app:
        yield app, customer, triage


def test_backoff_grows_and_honours_retry_after() -> None:
    assert backoff(1) == timedelta(seconds=5)
    assert backoff(3) == timedelta(seconds=20)
    assert backoff(30) == timedelta(hours=1)
    assert backoff(1, retry_after=42) == timedelta(seconds=42)
    # Applied with a spread that only ever shortens the wait (see `spread`).
    spreads = [spread() for _ in range(1000)]
    assert all(0.8 <= factor < 1.0 for factor in spreads) and len(set(spreads)) > 1


async def test_temporary_failure_is_retried_after_retry_after(
    desk_app: Any, clock: FakeClock
) -> None:
    fake = desk_app.fake
    fake.failures.append(DeliveryError("429 rate limited", retry_after=30))
    await fake.say("carol", "Mail is slow", message_id="m1")
    await desk_app.drain()
    assert fake.sent == []
    clock.advance(timedelta(seconds=29))
    await desk_app.drain()
    assert fake.sent == [], "Retry-After not yet over"
    clock.advance(timedelta(seconds=1))
    await desk_app.drain()
    assert len(fake.sent) == 1 and fake.sent[0].message.kind == "ack"


async def test_permanent_failure_records_delivery_failed_and_alerts_agents(
    settings_factory: Any, clock: FakeClock
) -> None:
    async with _with_triage(settings_factory, clock) as (app, customer, triage):
        customer.failures.append(DeliveryError("user has blocked the bot", permanent=True))
        await customer.say("carol", "Laptop won't boot", message_id="m1")
        await app.drain()
        shown = await app.show_ticket(1)
        failed = [e for e in shown["events"] if e["kind"] == "delivery_failed"]
        assert len(failed) == 1 and failed[0]["visibility"] == "internal"
        assert "blocked the bot" in failed[0]["text"]
        alerts = [s for s in triage.sent if s.message.kind == "delivery_failed"]
        assert len(alerts) == 1 and "T-1" in alerts[0].message.text
        cards = [s for s in triage.sent if s.message.kind == "card"]
        assert cards and cards[0].message.card is not None
        # The alert went into the card's thread.
        assert alerts[0].target.thread == "out-1"


async def test_gives_up_after_the_last_attempt(desk_app: Any, clock: FakeClock) -> None:
    fake = desk_app.fake
    for _ in range(MAX_ATTEMPTS):
        fake.failures.append(DeliveryError("503 service unavailable"))
    await fake.say("carol", "Phone line dead", message_id="m1")
    for _ in range(MAX_ATTEMPTS + 1):
        await desk_app.drain()
        clock.advance(timedelta(hours=1))
    assert fake.sent == []
    shown = await desk_app.show_ticket(1)
    assert [e["kind"] for e in shown["events"]].count("delivery_failed") == 1


async def test_card_updates_edit_the_posted_card(settings_factory: Any, clock: FakeClock) -> None:
    async with _with_triage(settings_factory, clock) as (app, customer, triage):
        await customer.say("carol", "Badge reader broken", message_id="m1")
        await app.drain()
        assert (await app.desk.run_as("alice", "take T-1")).ok
        await app.drain()
        first, second = [s.message for s in triage.sent if s.message.kind == "card"]
        assert first.edit_external_id == "" and second.edit_external_id == "out-1"
        assert second.card is not None and second.card.assignee == "alice"
        # An agent writing in the card's thread answers the customer.
        await triage.agent_says("UALICE", "out-1", "A new reader is on its way.", message_id="a1")
        await triage.agent_says("UALICE", "out-1", "note: ordered from stock", message_id="a2")
        await triage.agent_says("USTRANGER", "out-1", "lol", message_id="a3")
        await app.drain()
        assert "A new reader is on its way." in customer.texts_to("carol")[-1]
        kinds = [(e["kind"], e["visibility"]) for e in (await app.show_ticket(1))["events"]]
        assert ("note", "internal") in kinds
        assert not any("lol" in text for text in customer.texts_to("carol"))


async def test_a_card_post_retried_after_a_later_update_does_not_bring_back_old_content(
    settings_factory: Any, clock: FakeClock
) -> None:
    async with _with_triage(settings_factory, clock) as (app, customer, triage):
        triage.failures.append(DeliveryError("503 service unavailable", retry_after=60))
        await customer.say("carol", "Badge reader broken", message_id="m1")
        await app.drain()  # the card's first post fails; it is retried in a minute
        assert [s.message.kind for s in triage.sent] == []
        assert (await app.desk.run_as("alice", "take T-1")).ok
        await app.drain()  # the update (assigned to alice) goes out first and posts the card
        clock.advance(timedelta(seconds=61))
        await app.drain()  # the first post's retry: superseded, not sent
        cards = [s.message for s in triage.sent if s.message.kind == "card"]
        assert len(cards) == 1 and cards[0].card is not None
        assert cards[0].card.assignee == "alice", "the card shows the latest state"
        async with app.db.sessions() as session:
            rows = (
                await session.scalars(
                    select(OutboxRow).where(OutboxRow.kind == "card").order_by(OutboxRow.id)
                )
            ).all()
        assert [row.status for row in rows] == ["cancelled", "sent"]
        assert "superseded" in rows[0].last_error


async def test_group_commit_batches_concurrent_writes(desk_app: Any) -> None:
    import asyncio

    fake = desk_app.fake
    results = await asyncio.gather(
        *[fake.say(f"user{i}", f"problem {i}", message_id=f"m{i}") for i in range(50)],
        fake.say("user0", "problem 0", message_id="m0"),
    )
    assert results.count(True) == 50 and results.count(False) == 1
    assert desk_app.desk.writer.batches <= 3


async def test_two_workers_never_claim_the_same_row(
    settings_factory: Any, clock: FakeClock, database_url: str
) -> None:
    import asyncio

    from core.delivery.worker import DeliveryWorker
    from core.storage.db import Database

    fake = FakeChannel()
    async with App(settings_factory(), clock=clock, channels=[fake], background=False) as app:
        for n in range(60):
            await fake.say(f"user{n}", f"problem {n}", message_id=f"m{n}")
        await app.desk.processor.process_pending()
        ctx = app.ctx
    first, second = Database(database_url), Database(database_url)
    try:
        workers = [
            DeliveryWorker(first, ctx, {}, batch=7),
            DeliveryWorker(second, ctx, {}, batch=7),
        ]

        async def drain_claims(worker: DeliveryWorker) -> list[int]:
            ids: list[int] = []
            for _ in range(20):
                claimed = await worker.claim()
                if not claimed:
                    break
                ids.extend(item.id for item in claimed)
            return ids

        a, b = await asyncio.gather(*(drain_claims(worker) for worker in workers))
        assert len(a) + len(b) == 60
        assert not set(a) & set(b)
    finally:
        await first.dispose()
        await second.dispose()


@dataclass
class BusyMailboxes(FakeChannel):
    """A FakeChannel whose sends to some customers fail for now; each send names its thread."""

    busy: set[str] = field(default_factory=set)

    async def send(self, target: ReplyTarget, message: OutboundMessage) -> SendResult:
        if target.address in self.busy:
            raise DeliveryError("452 mailbox busy, try later")
        result = await super().send(target, message)
        return replace(result, thread_keys=(f"thread-{target.address}",))


async def _deliveries(app: App) -> dict[str, dict[str, Any]]:
    """Each customer's acknowledgement as the database has it, by the customer's address."""
    async with app.db.sessions() as session:
        rows = (await session.scalars(select(OutboxRow).where(OutboxRow.kind == "ack"))).all()
        refs = {
            key: ticket
            for key, ticket in await session.execute(select(TicketRef.key, TicketRef.ticket_id))
        }
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            event = await session.get(TicketEvent, row.event_id)
            assert event is not None
            found[row.address] = {
                "status": row.status, "external_id": row.external_id, "error": row.last_error,
                "event_external_id": event.external_id, "ticket": row.ticket_id,
                "keys": sorted(key for key, ticket in refs.items() if ticket == row.ticket_id),
            }  # fmt: skip
        return found


async def test_a_batch_is_sent_in_order_and_recorded_together(
    settings_factory: Any, clock: FakeClock
) -> None:
    fake = BusyMailboxes(busy={"dave"})
    async with App(settings_factory(), clock=clock, channels=[fake], background=False) as app:
        for n, user in enumerate(["carol", "dave", "erin", "frank"], start=1):
            await fake.say(user, f"Problem number {n}", message_id=f"m{n}")
        await app.desk.processor.process_pending()
        assert await app.desk.delivery.deliver_due() == 4, "one batch"
        assert [s.target.address for s in fake.sent] == ["carol", "erin", "frank"]

        acks = await _deliveries(app)
        for user, out in [("carol", "out-1"), ("erin", "out-2"), ("frank", "out-3")]:
            assert acks[user]["status"] == "sent" and acks[user]["external_id"] == out
            assert acks[user]["event_external_id"] == out
            assert {out, f"thread-{user}"} <= set(acks[user]["keys"])
        # Dave's mailbox was busy: his acknowledgement waits for its retry, nothing recorded.
        dave = acks["dave"]
        assert dave["status"] == "pending" and dave["external_id"] == ""
        assert dave["event_external_id"] == "" and "mailbox busy" in dave["error"]
        assert not any(key.startswith(("out-", "thread-")) for key in dave["keys"])

        # A customer answering in the thread of our acknowledgement lands on their ticket.
        await fake.say("erin", "Any news?", message_id="m5", thread="out-2")
        await app.desk.processor.process_pending()
        assert len(await app.list_tickets()) == 4
        erin = await app.show_ticket(acks["erin"]["ticket"])
        assert erin is not None and "Any news?" in erin["events"][-1]["text"]

        fake.busy.clear()
        clock.advance(backoff(1))
        await app.drain()
        acks = await _deliveries(app)
        assert acks["dave"]["status"] == "sent" and acks["dave"]["external_id"] == "out-4"
        assert acks["dave"]["event_external_id"] == "out-4"
        assert {"out-4", "thread-dave"} <= set(acks["dave"]["keys"])
        assert [len(fake.texts_to(user)) for user in ["carol", "dave", "frank"]] == [1, 1, 1]


async def test_two_card_rows_due_in_one_batch_post_only_the_latest(
    settings_factory: Any, clock: FakeClock
) -> None:
    async with _with_triage(settings_factory, clock) as (app, customer, triage):
        triage.failures.append(DeliveryError("503 service unavailable"))
        await customer.say("carol", "Printer jams", message_id="m1")
        await app.drain()
        assert triage.sent == [], "the card waits for its retry"
        # The ticket changes meanwhile; both card messages come due in the same batch.
        assert (await app.desk.run_as("alice", "take T-1")).ok
        clock.advance(backoff(1))
        await app.drain()
        # The older row is superseded: one post, with the latest content, and no second
        # message to the triage channel.
        cards = [s.message for s in triage.sent if s.message.kind == "card"]
        assert [card.edit_external_id for card in cards] == [""]
        assert cards[0].card is not None and cards[0].card.assignee == "alice"


async def test_a_row_whose_bookkeeping_fails_does_not_send_the_whole_batch_again(
    settings_factory: Any, clock: FakeClock, monkeypatch: Any
) -> None:
    import core.delivery.worker

    record = core.delivery.worker.record_sent

    def refuse_erin(connection: Any, owner: str, now: Any, sent: Any, stored: Any) -> None:
        if any(item.target.address == "erin" for item, _ in sent):
            raise RuntimeError("simulated: erin's row cannot be recorded")
        record(connection, owner, now, sent, stored)

    monkeypatch.setattr(core.delivery.worker, "record_sent", refuse_erin)
    fake = FakeChannel()
    async with App(settings_factory(), clock=clock, channels=[fake], background=False) as app:
        for n, user in enumerate(["carol", "erin", "frank"], start=1):
            await fake.say(user, f"Problem number {n}", message_id=f"m{n}")
        await app.desk.processor.process_pending()
        assert await app.desk.delivery.deliver_due() == 3
        acks = await _deliveries(app)
        assert acks["carol"]["status"] == acks["frank"]["status"] == "sent"
        assert acks["erin"]["status"] == "pending", "not recorded: sent again after the lease"
        # Nothing else is due: carol and frank are not sent a second time.
        assert await app.desk.delivery.deliver_due() == 0
        assert [len(fake.texts_to(user)) for user in ["carol", "erin", "frank"]] == [1, 1, 1]
        # Erin's row goes out again after each lease, but not forever: after MAX_ATTEMPTS
        # sends with no outcome recorded, it is given up and the agents are told.
        for _ in range(MAX_ATTEMPTS + 3):
            clock.advance(LEASE + timedelta(seconds=1))
            with contextlib.suppress(RuntimeError):  # alone in its batch, the failure is raised
                await app.desk.delivery.deliver_due()
        assert len(fake.texts_to("erin")) == MAX_ATTEMPTS
        assert (await _deliveries(app))["erin"]["status"] == "failed"
        shown = await app.show_ticket(2)
        failed = [e for e in shown["events"] if e["kind"] == "delivery_failed"]
        assert len(failed) == 1 and "may have been delivered" in failed[0]["text"]


@dataclass
class GatedChannel(FakeChannel):
    """Holds each send until the test opens the gate: a slow platform."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, target: ReplyTarget, message: OutboundMessage) -> SendResult:
        self.entered.set()
        async with asyncio.timeout(10):
            await self.gate.wait()
        return await super().send(target, message)


async def _statuses(app: App) -> dict[str, tuple[str, bool]]:
    """Each acknowledgement's (status, still leased), by customer."""
    async with app.db.sessions() as session:
        rows = (await session.scalars(select(OutboxRow).where(OutboxRow.kind == "ack"))).all()
        return {row.address: (row.status, row.lease_until is not None) for row in rows}


async def test_a_stopping_worker_finishes_the_message_in_hand_and_gives_back_the_rest(
    settings_factory: Any, clock: FakeClock
) -> None:
    gated = GatedChannel()
    async with App(settings_factory(), clock=clock, channels=[gated], background=False) as app:
        for n, user in enumerate(["carol", "dave", "erin"], start=1):
            await gated.say(user, f"Problem number {n}", message_id=f"m{n}")
        await app.desk.processor.process_pending()
        batch = asyncio.create_task(app.desk.delivery.deliver_due())
        async with asyncio.timeout(10):
            await gated.entered.wait()  # carol's acknowledgement is on its way
        app.desk.delivery.stopping = True
        gated.gate.set()
        async with asyncio.timeout(10):
            assert await batch == 3
        assert [s.target.address for s in gated.sent] == ["carol"]
        assert await _statuses(app) == {
            "carol": ("sent", False), "dave": ("pending", False), "erin": ("pending", False),
        }  # fmt: skip
        # Given back, not left leased: the next worker sends them at once.
        app.desk.delivery.stopping = False
        assert await app.desk.delivery.deliver_due() == 2
        assert [s.target.address for s in gated.sent] == ["carol", "dave", "erin"]


async def test_app_stop_waits_for_the_send_in_hand_so_it_is_not_sent_twice(
    settings_factory: Any, clock: FakeClock
) -> None:
    gated = GatedChannel()
    app = App(settings_factory(), clock=clock, channels=[gated], background=True)
    async with app:
        await gated.say("carol", "The VPN drops", message_id="m1")
        async with asyncio.timeout(10):
            await gated.entered.wait()
        stopping = asyncio.create_task(app.stop())
        await asyncio.sleep(0.05)  # the stop is waiting on the send in hand
        assert not stopping.done()
        gated.gate.set()
        async with asyncio.timeout(15):
            await stopping
    assert [s.target.address for s in gated.sent] == ["carol"]
    async with App(settings_factory(), clock=clock, channels=[gated], background=False) as again:
        assert await _statuses(again) == {"carol": ("sent", False)}
        assert await again.desk.delivery.deliver_due() == 0

"""Delivery: retries with backoff and Retry-After, dead letters with an alert, leases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.app import App
from core.channel import DeliveryError
from core.clock import FakeClock
from core.outbox import MAX_ATTEMPTS, backoff
from tests.fake_channel import FakeChannel


def test_backoff_grows_and_honours_retry_after() -> None:
    assert backoff(1) == timedelta(seconds=5)
    assert backoff(3) == timedelta(seconds=20)
    assert backoff(30) == timedelta(hours=1)
    assert backoff(1, retry_after=42) == timedelta(seconds=42)


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
    customer, triage = FakeChannel("fake"), FakeChannel("slack")
    settings = settings_factory(slack={"enabled": True, "triage_channel": "CTRIAGE"})
    async with App(settings, clock=clock, channels=[customer, triage], background=False) as app:
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
    customer, triage = FakeChannel("fake"), FakeChannel("slack")
    settings = settings_factory(slack={"enabled": True, "triage_channel": "CTRIAGE"})
    async with App(settings, clock=clock, channels=[customer, triage], background=False) as app:
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

    from core.db import Database
    from core.outbox import DeliveryWorker

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

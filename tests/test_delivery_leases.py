"""Two delivery workers on one database, with sends slower than a lease: each row goes out once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.app import App
from core.channel import DeliveryError, OutboundMessage, ReplyTarget, SendResult
from core.clock import FakeClock
from core.delivery.worker import LEASE, DeliveryWorker
from core.storage.db import Database
from core.storage.models import OutboxRow, OutboxStatus
from tests.fake_channel import FakeChannel, Sent

CUSTOMERS = 60
# A slow relay: a batch of 50 such sends takes four times the lease (each within SEND_TIMEOUT).
SEND_TAKES = timedelta(seconds=10)


@dataclass
class Relay(FakeChannel):
    """A relay on the shared fake clock: each send takes `takes`, and `meanwhile` (another
    worker's round) runs while it is under way."""

    clock: FakeClock = field(default_factory=FakeClock)
    takes: timedelta = timedelta(0)
    meanwhile: Callable[[], Awaitable[object]] | None = None
    label: str = "relay"

    async def send(self, target: ReplyTarget, message: OutboundMessage) -> SendResult:
        if self.meanwhile is not None:
            await self.meanwhile()
        self.clock.advance(self.takes)
        result = await super().send(target, message)
        return replace(result, external_id=f"{self.label}-{result.external_id}")


async def _queue_acknowledgements(settings: Any, clock: FakeClock, relay: FakeChannel) -> Any:
    """CUSTOMERS customers write in; their acknowledgements wait in the outbox. Returns ctx."""
    async with App(settings, clock=clock, channels=[relay], background=False) as app:
        for n in range(CUSTOMERS):
            await relay.say(f"user{n}", f"problem {n}", message_id=f"m{n}")
        await app.desk.processor.process_pending()
        return app.ctx


async def test_two_workers_with_sends_slower_than_the_lease_send_each_row_once(
    settings_factory: Any, clock: FakeClock, database_url: str
) -> None:
    ctx = await _queue_acknowledgements(settings_factory(), clock, FakeChannel())
    received: list[Sent] = []
    slow = Relay(sent=received, clock=clock, takes=SEND_TAKES, label="slow")
    quick = Relay(sent=received, clock=clock, label="quick")
    first, second = Database(database_url), Database(database_url)
    try:
        busy = DeliveryWorker(first, ctx, {"fake": slow})
        other = DeliveryWorker(second, ctx, {"fake": quick})
        # While the busy worker sends each row, the other one looks for due rows.
        slow.meanwhile = other.deliver_due
        async with asyncio.timeout(60):
            for _ in range(5):
                if not await busy.deliver_due():
                    break
            # Whatever either still holds comes due again after a lease: nothing is left over.
            clock.advance(LEASE + timedelta(seconds=1))
            slow.meanwhile = None
            for worker in (busy, other, busy):
                await worker.deliver_due()
        addresses = Counter(sent.target.address for sent in received)
        assert addresses == Counter({f"user{n}": 1 for n in range(CUSTOMERS)}), {
            address: count for address, count in addresses.items() if count != 1
        }
        async with first.sessions() as session:
            statuses = (await session.scalars(select(OutboxRow.status))).all()
        assert Counter(statuses) == Counter({OutboxStatus.SENT.value: CUSTOMERS})
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_worker_that_stalled_past_its_lease_sends_none_of_the_rows_taken_over(
    settings_factory: Any, clock: FakeClock, database_url: str
) -> None:
    ctx = await _queue_acknowledgements(settings_factory(), clock, FakeChannel())
    received: list[Sent] = []
    stalling = Relay(sent=received, clock=clock, label="stalling")
    quick = Relay(sent=received, clock=clock, label="quick")
    first, second = Database(database_url), Database(database_url)
    try:
        stalled = DeliveryWorker(first, ctx, {"fake": stalling})
        other = DeliveryWorker(second, ctx, {"fake": quick})

        async def stall_then_fail() -> None:
            # The process is suspended for longer than its lease; meanwhile the other worker
            # takes over the rows and sends them. The send in hand then fails.
            stalling.meanwhile = None
            clock.advance(LEASE + timedelta(minutes=1))
            while await other.deliver_due():
                pass
            stalling.failures.append(DeliveryError("421 connection dropped"))

        stalling.meanwhile = stall_then_fail
        async with asyncio.timeout(60):
            assert await stalled.deliver_due() == 50
            assert await other.deliver_due() == 0 and await stalled.deliver_due() == 0
        addresses = Counter(sent.target.address for sent in received)
        assert addresses == Counter({f"user{n}": 1 for n in range(CUSTOMERS)})
        async with first.sessions() as session:
            rows = (await session.scalars(select(OutboxRow))).all()
        assert {row.status for row in rows} == {OutboxStatus.SENT.value}
        assert {row.last_error for row in rows} == {""}, "the late failure changed nothing"
        assert {row.external_id.split("-")[0] for row in rows} == {"quick"}, "all sent by other"
    finally:
        await first.dispose()
        await second.dispose()

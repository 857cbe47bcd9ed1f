"""The delivery worker: claims due outbox rows under a lease, sends them, retries, dead-letters."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Connection

from core.channel import (
    Audience,
    Channel,
    DeliveryError,
    OutboundMessage,
    ReplyTarget,
    SendResult,
)
from core.context import Context
from core.delivery.enqueue import alert_agents, decode_message
from core.delivery.sent import Claimed, record_sent
from core.storage.db import Database
from core.storage.models import (
    OutboxRow,
    OutboxStatus,
    Ticket,
    TriageCard,
)
from core.tickets.timeline import INTERNAL, add_event

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)
SEND_TIMEOUT = 30.0
_BACKOFF_BASE = 5.0
_BACKOFF_CAP = 3600.0


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Wait before the next attempt: the platform's Retry-After if given, else exponential."""
    if retry_after is not None and retry_after >= 0:
        return timedelta(seconds=min(retry_after, _BACKOFF_CAP))
    return timedelta(seconds=min(_BACKOFF_BASE * 2 ** max(attempts - 1, 0), _BACKOFF_CAP))


def spread() -> float:
    """A factor in [0.8, 1.0) for our own backoff: after an outage, the rows that failed
    together do not all come back in the same second. Only ever shortens the wait."""
    return 0.8 + 0.2 * random.random()


class DeliveryWorker:
    """Sends outbox rows through the channel adapters. Several may run on one PostgreSQL."""

    def __init__(
        self, db: Database, ctx: Context, channels: Mapping[str, Channel], batch: int = 50
    ) -> None:
        self.db = db
        self.ctx = ctx
        self.channels = channels
        self.batch = batch
        self.owner = uuid.uuid4().hex[:16]
        self.stopping = False  # set by the app's stop: finish the message in hand, no more

    async def claim(self) -> list[Claimed]:
        """Lease due rows. One UPDATE … RETURNING, with SKIP LOCKED on PostgreSQL, so two
        workers never hold the same row; an expired lease (a crashed worker) is claimable."""
        now = self.ctx.now()
        due = (
            select(OutboxRow.id)
            .where(
                OutboxRow.status == OutboxStatus.PENDING.value,
                OutboxRow.next_attempt_at <= now,
                or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now),
            )
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(self.batch)
        )
        if not self.db.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        lease = (
            update(OutboxRow)
            .where(OutboxRow.id.in_(due.scalar_subquery()))
            .values(
                lease_owner=self.owner, lease_until=now + LEASE, attempts=OutboxRow.attempts + 1
            )
            .returning(
                OutboxRow.id,
                OutboxRow.ticket_id,
                OutboxRow.event_id,
                OutboxRow.channel,
                OutboxRow.address,
                OutboxRow.thread,
                OutboxRow.audience,
                OutboxRow.kind,
                OutboxRow.message,
                OutboxRow.attempts,
            )
        )
        # One trip to the database's writer (a thread of its own on SQLite): the write lock is
        # held for the statement, not for three round trips through a busy event loop.
        rows = await self.db.write_sync(lambda sync: sync.execute(lease).all())
        claimed = [
            Claimed(r.id, r.ticket_id, r.event_id, r.channel,
                    ReplyTarget(r.channel, r.address, r.thread), r.audience, r.kind, r.message,
                    r.attempts)
            for r in rows
        ]  # fmt: skip
        return sorted(claimed, key=lambda item: item.id)

    async def deliver_due(self) -> int:
        """Claim and send one batch; return how many rows were attempted.

        Rows are sent one by one in id order; what went out is then recorded in one
        transaction for the whole batch, because a commit per row costs more than the send.
        """
        claimed = await self.claim()
        if not claimed:
            return 0
        newer = await self._newer_cards(claimed)
        if newer:
            await self._supersede(newer)
        sending = [item for item in claimed if item.id not in newer]
        stored = await self._posted_cards(sending)
        cards = dict(stored)  # plus the cards posted by this batch, for the rows after them
        sent: list[tuple[Claimed, SendResult]] = []
        try:
            for position, item in enumerate(sending):
                if self.stopping:
                    await self._release(sending[position:])
                    break
                if item.attempts > MAX_ATTEMPTS:
                    # Claimed this often with no outcome recorded: the worker died during the
                    # send, or could not record it. Sending again would repeat that forever.
                    reason = (
                        f"no outcome recorded after {MAX_ATTEMPTS} attempts (the sender stopped "
                        "or could not record the send); it may have been delivered"
                    )
                    await self._failed(item, reason, True, None)
                    continue
                result = await self._deliver(item, cards)
                if result is None:
                    continue
                sent.append((item, result))
                if item.kind == "card" and item.ticket_id is not None and result.external_id:
                    cards[item.ticket_id, item.channel] = result.external_id
        finally:
            # Also when a failure could not be recorded or we are cancelled: what went out is
            # recorded, so that it is not sent a second time when the leases expire.
            if sent:
                await self._record_sent(sent, stored)
        return len(claimed)

    async def _deliver(
        self, item: Claimed, cards: Mapping[tuple[int, str], str]
    ) -> SendResult | None:
        """Send one row; a failure is recorded at once, a success returned for the batch."""
        message = decode_message(item.message_json)
        target = item.target
        channel = self.channels.get(item.channel)
        try:
            if channel is None:
                raise DeliveryError(f"the {item.channel} channel is not running")
            if item.audience == Audience.AGENTS.value:
                target, message = _triage_context(item, target, message, cards)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the send completes, and the worker would then never stop.
            async with asyncio.timeout(SEND_TIMEOUT):
                result = await channel.send(target, message)
        except DeliveryError as exc:
            await self._failed(item, exc.reason, exc.permanent, exc.retry_after)
        except TimeoutError:
            await self._failed(item, f"no answer within {SEND_TIMEOUT:.0f}s", False, None)
        except Exception as exc:  # an adapter bug must not stop delivery of everything else
            log.exception("delivery of outbox row %s raised", item.id)
            await self._failed(item, f"{type(exc).__name__}: {exc}", False, None)
        else:
            return result
        return None

    async def _newer_cards(self, claimed: list[Claimed]) -> dict[int, int]:
        """Card rows of the batch that a later card row of the same ticket and channel replaces:
        {row id: newer row id}. A card row carries the whole card, so only the latest counts.
        Without this, a post that failed and is retried after a later update went out would
        put the older content back on the card."""
        cards = [item for item in claimed if item.kind == "card" and item.ticket_id is not None]
        if not cards:
            return {}
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(OutboxRow.ticket_id, OutboxRow.channel, func.max(OutboxRow.id))
                .where(
                    OutboxRow.kind == "card",
                    OutboxRow.ticket_id.in_(sorted({item.ticket_id for item in cards})),
                    OutboxRow.status != OutboxStatus.CANCELLED.value,
                )
                .group_by(OutboxRow.ticket_id, OutboxRow.channel)
            )
            latest = {(ticket_id, channel): row_id for ticket_id, channel, row_id in rows}
        return {
            item.id: latest[item.ticket_id, item.channel]
            for item in cards
            if latest.get((item.ticket_id, item.channel), item.id) > item.id
        }

    async def _supersede(self, newer: Mapping[int, int]) -> None:
        async with self.db.transaction() as session:
            for row_id, latest in newer.items():
                await session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == row_id, OutboxRow.lease_owner == self.owner)
                    .values(
                        status=OutboxStatus.CANCELLED.value,
                        lease_until=None,
                        last_error=f"superseded by outbox row {latest}, a later card",
                    )
                )
        log.info("card rows %s superseded by later cards; not sent", sorted(newer))

    async def _posted_cards(self, claimed: list[Claimed]) -> dict[tuple[int, str], str]:
        """Where the batch's tickets have a posted triage card, by (ticket, channel): one read."""
        tickets = {
            item.ticket_id
            for item in claimed
            if item.audience == Audience.AGENTS.value and item.ticket_id is not None
        }
        if not tickets:
            return {}
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(TriageCard.ticket_id, TriageCard.channel, TriageCard.external_id).where(
                    TriageCard.ticket_id.in_(sorted(tickets)), TriageCard.external_id != ""
                )
            )
            return {(ticket_id, channel): external for ticket_id, channel, external in rows}

    async def _release(self, unsent: list[Claimed]) -> None:
        """Give back leases of rows this worker will not send after all (it is stopping)."""
        async with self.db.transaction() as session:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_([item.id for item in unsent]))
                .where(OutboxRow.lease_owner == self.owner)
                .values(lease_until=None, attempts=OutboxRow.attempts - 1)
            )

    async def _record_sent(
        self, sent: list[tuple[Claimed, SendResult]], stored: Mapping[tuple[int, str], str]
    ) -> None:
        """Mark the batch's sent rows and remember what the platforms said, in one transaction.

        `stored` is the card ids already in the database, so a card edit that kept its id
        writes nothing. If this fails the rows stay leased and are sent again when the lease
        expires: at-least-once, as after a crash.
        """
        try:
            await self.db.write_sync(functools.partial(self._record, sent=sent, stored=stored))
            return
        except Exception:
            if len(sent) == 1:
                self._unrecorded(sent)
                raise
            # One row's bookkeeping (say, a platform id too long for its column) must not
            # make the whole batch go out again: record the rows one by one instead.
            log.exception("recording %d sent outbox rows together failed; one by one", len(sent))
        except BaseException:
            self._unrecorded(sent)
            raise
        for one in sent:
            try:
                await self.db.write_sync(functools.partial(self._record, sent=[one], stored=stored))
            except Exception:
                self._unrecorded([one])
                log.exception("recording outbox row %s failed", one[0].id)

    def _record(
        self,
        connection: Connection,
        sent: list[tuple[Claimed, SendResult]],
        stored: Mapping[tuple[int, str], str],
    ) -> None:
        record_sent(connection, self.owner, self.ctx.now(), sent, stored)

    @staticmethod
    def _unrecorded(sent: list[tuple[Claimed, SendResult]]) -> None:
        log.error(
            "could not record %d sent outbox rows (%s); they will be sent again after their "
            "lease expires",
            len(sent),
            ", ".join(str(item.id) for item, _ in sent),
        )

    async def _failed(
        self, item: Claimed, reason: str, permanent: bool, retry_after: float | None
    ) -> None:
        now = self.ctx.now()
        async with self.db.transaction() as session:
            row = await session.get(OutboxRow, item.id, with_for_update=True)
            if row is None:
                return
            row.lease_until = None
            row.last_error = reason[:2000]
            if not permanent and row.attempts < MAX_ATTEMPTS:
                wait = backoff(row.attempts, retry_after)
                if retry_after is None:  # a platform's Retry-After is kept to the second
                    wait *= spread()
                row.next_attempt_at = now + wait
                log.info(
                    "outbox %s: attempt %s failed (%s); retrying", row.id, row.attempts, reason
                )
                return
            row.status = OutboxStatus.FAILED.value
            log.warning("outbox %s: delivery failed for good: %s", row.id, reason)
            if row.ticket_id is None or row.audience != Audience.CUSTOMER.value:
                return  # a failed alert is logged; alerting about alerts would loop
            ticket = await session.get(Ticket, row.ticket_id)
            if ticket is None:
                return
            excerpt = decode_message(row.message).text.replace("\n", " ")[:140]
            await add_event(
                session, ticket, "delivery_failed", f"Not delivered on {row.channel}: {reason}",
                now, visibility=INTERNAL, author="tidings", channel=row.channel,
            )  # fmt: skip
            await alert_agents(
                self.ctx, session, ticket, "delivery_failed",
                self.ctx.texts.render("delivery_failed", ref=ticket.ref, channel=row.channel,
                                      reason=reason, excerpt=excerpt),
            )  # fmt: skip


def _triage_context(
    item: Claimed,
    target: ReplyTarget,
    message: OutboundMessage,
    cards: Mapping[tuple[int, str], str],
) -> tuple[ReplyTarget, OutboundMessage]:
    """Cards are edited in place once posted; alerts go in the card's thread."""
    if item.ticket_id is None:
        return target, message
    card = cards.get((item.ticket_id, item.channel), "")
    if not card:
        return target, message
    if item.kind == "card":
        return target, replace(message, edit_external_id=card)
    return ReplyTarget(target.channel, target.address, card), message

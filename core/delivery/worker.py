"""The delivery worker: claims due outbox rows under a lease, sends them, retries, dead-letters."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from core import metrics
from core.channel import Audience, Channel, DeliveryError, ReplyTarget, SendResult
from core.context import Context
from core.delivery.ack_timing import is_ack, observe_acks
from core.delivery.cards import (
    Posted,
    newer_cards,
    note_post,
    posted_cards,
    supersede_cards,
    triage_context,
)
from core.delivery.enqueue import alert_agents
from core.delivery.progress import parts_done, progress_of, send_resuming
from core.delivery.rows import Claimed, decode_message
from core.delivery.sent import record_sent
from core.storage.db import Database
from core.storage.models import EventKind, OutboxRow, OutboxStatus, Ticket, Visibility
from core.tickets.timeline import add_event

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)
SEND_TIMEOUT = 30.0
# A send starts only while the lease has at least this long to run: the send's own limit, plus
# room for the clocks of two hosts to disagree. Renewing earlier costs one write per ~75 s.
LEASE_MARGIN = timedelta(seconds=SEND_TIMEOUT + 15)
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


@dataclass
class _Batch:
    """The rows one worker claimed together, and how far it got with them."""

    rows: list[Claimed]
    held_until: datetime  # when this worker's lease on the rows still to send runs out
    stored: Posted  # where cards are posted, as the database knows it
    cards: Posted = field(init=False)  # ... plus the cards this batch posted so far
    sent: list[tuple[Claimed, SendResult]] = field(default_factory=list)  # not yet recorded
    lost: set[int] = field(default_factory=set)  # rows another worker (or a cancel) took
    acks: list[tuple[Claimed, datetime]] = field(default_factory=list)  # sent, and when

    def __post_init__(self) -> None:
        self.cards = dict(self.stored)


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

    async def claim(self, now: datetime | None = None) -> list[Claimed]:
        """Lease due rows. One UPDATE … RETURNING, with SKIP LOCKED on PostgreSQL, so two
        workers never hold the same row; an expired lease (a crashed worker) is claimable."""
        now = now or self.ctx.now()
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
                OutboxRow.progress,
            )
        )

        # One trip to the database's writer (a thread of its own on SQLite): the write lock is
        # held for the statement, not for three round trips through a busy event loop.
        def take(connection: Connection) -> list[Claimed]:
            return [
                Claimed(r.id, r.ticket_id, r.event_id, r.channel,
                        ReplyTarget(r.channel, r.address, r.thread), r.audience, r.kind,
                        r.message, r.attempts, parts_done(r.progress))
                for r in connection.execute(lease)
            ]  # fmt: skip

        claimed = await self.db.write(take)
        return sorted(claimed, key=lambda item: item.id)

    async def deliver_due(self) -> int:
        """Claim and send one batch; return how many rows were attempted.

        Rows are sent one by one in id order. What went out is recorded for many rows at once,
        because a commit per row costs more than the send: at the end of the batch, and
        whenever the lease is renewed. A row is sent only while this worker's lease on it has
        longer to run than a send may take, so no other worker can have claimed it.
        """
        now = self.ctx.now()
        claimed = await self.claim(now)
        if not claimed:
            return 0
        newer: dict[int, int] = {}
        stored: Posted = {}
        if any(item.audience == Audience.AGENTS for item in claimed):  # else no card to look up
            async with self.db.sessions() as session:
                newer = await newer_cards(session, claimed)
                stored = await posted_cards(session, claimed)
        if newer:
            await self._supersede(newer)
        sending = [item for item in claimed if item.id not in newer]
        batch = _Batch(sending, held_until=now + LEASE, stored=stored)
        try:
            await self._send(batch)
        finally:
            # Also when a failure could not be recorded or we are cancelled: what went out is
            # recorded, so that it is not sent a second time when the leases expire.
            if batch.sent:
                await self._record_sent(batch.sent, batch.stored)
        await observe_acks(self.db, batch.acks)
        return len(claimed)

    async def _send(self, batch: _Batch) -> None:
        for position, item in enumerate(batch.rows):
            if self.stopping:
                await self._release(batch.rows[position:])
                return
            if item.attempts > MAX_ATTEMPTS:
                # Claimed this often with no outcome recorded: the worker died during the
                # send, or could not record it. Sending again would repeat that forever.
                reason = (
                    f"no outcome recorded after {MAX_ATTEMPTS} attempts (the sender stopped "
                    "or could not record the send); it may have been delivered"
                )
                await self._failed(item, reason, True, None)
                continue
            if self.ctx.now() + LEASE_MARGIN > batch.held_until:
                await self._renew(batch, batch.rows[position:])
            if item.id in batch.lost:
                continue  # another worker holds it now: it is theirs to send
            result = await self._deliver(item, batch.cards)
            if result is not None:
                batch.sent.append((item, result))
                if is_ack(item):
                    batch.acks.append((item, self.ctx.now()))
                note_post(batch.cards, item, result)

    async def _renew(self, batch: _Batch, unsent: list[Claimed]) -> None:
        """Record what went out so far and extend the lease on the rows still to send, in one
        transaction. A row this worker no longer holds (claimed by another after our lease
        ran out, or cancelled meanwhile) is dropped from the batch: this worker never sends it."""
        sent, batch.sent = batch.sent, []
        stored, batch.stored = batch.stored, dict(batch.cards)
        now = self.ctx.now()
        wanted = [item.id for item in unsent if item.id not in batch.lost]
        renew = (
            update(OutboxRow)
            .where(
                OutboxRow.id.in_(wanted),
                OutboxRow.lease_owner == self.owner,
                OutboxRow.status == OutboxStatus.PENDING.value,
            )
            .values(lease_until=now + LEASE)
            .returning(OutboxRow.id)
        )

        def extend(connection: Connection) -> set[int]:
            return set(connection.execute(renew).scalars())

        def record_and_extend(connection: Connection) -> set[int]:
            self._record(connection, sent, stored)
            return extend(connection)

        try:
            held = await self.db.write(record_and_extend if sent else extend)
        except Exception:
            if not sent:
                raise
            # The bookkeeping failed: record row by row as at the end of a batch, then renew.
            log.exception("recording %d sent outbox rows with the lease renewal failed", len(sent))
            await self._record_sent(sent, stored)
            held = await self.db.write(extend)
        lost = set(wanted) - held
        if lost:
            log.warning("outbox rows %s are no longer this worker's; not sent", sorted(lost))
        batch.lost |= lost
        batch.held_until = now + LEASE

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
            if item.audience == Audience.AGENTS:
                target, message = triage_context(item, target, message, cards)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the send completes, and the worker would then never stop.
            async with asyncio.timeout(SEND_TIMEOUT):
                progress = progress_of(self.db, self.owner, item.id, item.progress)
                result = await send_resuming(channel, target, message, progress)
        except DeliveryError as exc:
            await self._failed(item, exc.reason, exc.permanent, exc.retry_after)
        except TimeoutError:
            await self._failed(item, f"no answer within {SEND_TIMEOUT:.0f}s", False, None)
        except Exception as exc:  # an adapter bug must not stop delivery of everything else
            log.exception("delivery of outbox row %s raised", item.id)
            await self._failed(item, f"{type(exc).__name__}: {exc}", False, None)
        else:
            metrics.delivery(item.channel, "sent")
            if message.automatic:
                metrics.automatic(item.kind)
            log.info(
                "outbox %s: sent", item.id,
                extra={"event": "delivery.sent", "channel": item.channel, "outbox_id": item.id,
                       "kind": item.kind, "attempt": item.attempts},
            )  # fmt: skip
            return result
        return None

    async def _supersede(self, newer: Mapping[int, int]) -> None:
        async def cancel(session: AsyncSession) -> None:
            await supersede_cards(session, newer, self.owner)

        await self.db.write(cancel)
        log.info("card rows %s superseded by later cards; not sent", sorted(newer))

    async def _release(self, unsent: list[Claimed]) -> None:
        """Give back leases of rows this worker will not send after all (it is stopping)."""
        give_back = (
            update(OutboxRow)
            .where(OutboxRow.id.in_([item.id for item in unsent]))
            .where(OutboxRow.lease_owner == self.owner)
            .values(lease_until=None, attempts=OutboxRow.attempts - 1)
        )

        def release(connection: Connection) -> None:
            connection.execute(give_back)

        await self.db.write(release)

    async def _record_sent(
        self, sent: list[tuple[Claimed, SendResult]], stored: Mapping[tuple[int, str], str]
    ) -> None:
        """Mark the batch's sent rows and remember what the platforms said, in one transaction.

        `stored` is the card ids already in the database, so a card edit that kept its id
        writes nothing. If this fails the rows stay leased and are sent again when the lease
        expires: at-least-once, as after a crash.
        """
        try:
            await self.db.write(functools.partial(self._record, sent=sent, stored=stored))
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
                await self.db.write(functools.partial(self._record, sent=[one], stored=stored))
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

        async def note(session: AsyncSession) -> None:
            row = await session.get(OutboxRow, item.id, with_for_update=True)
            if row is None or row.lease_owner != self.owner:
                return  # gone, or claimed by another worker: the outcome is theirs to record
            row.lease_until = None
            row.last_error = reason[:2000]
            if not permanent and row.attempts < MAX_ATTEMPTS:
                wait = backoff(row.attempts, retry_after)
                if retry_after is None:  # a platform's Retry-After is kept to the second
                    wait *= spread()
                row.next_attempt_at = now + wait
                metrics.delivery(row.channel, "retried")
                log.info(
                    "outbox %s: attempt %s failed (%s); retrying", row.id, row.attempts, reason,
                    extra={"event": "delivery.retried", **_fields(row, reason)},
                )  # fmt: skip
                return
            row.status = OutboxStatus.FAILED.value
            metrics.delivery(row.channel, "failed")
            log.warning(
                "outbox %s: delivery failed for good: %s", row.id, reason,
                extra={"event": "delivery.failed", **_fields(row, reason)},
            )  # fmt: skip
            if row.ticket_id is not None and row.audience == Audience.CUSTOMER:
                await self._tell_agents(session, row, reason)
            # A failed alert is only logged: alerting about alerts would loop.

        await self.db.write(note)

    async def _tell_agents(self, session: AsyncSession, row: OutboxRow, reason: str) -> None:
        """A customer's message could not be delivered: on the timeline, and to the agents."""
        ticket = await session.get(Ticket, row.ticket_id)
        if ticket is None:
            return
        excerpt = decode_message(row.message).text.replace("\n", " ")[:140]
        await add_event(
            session, ticket, EventKind.DELIVERY_FAILED,
            f"Not delivered on {row.channel}: {reason}", self.ctx.now(),
            visibility=Visibility.INTERNAL, author="tidings", channel=row.channel,
        )  # fmt: skip
        await alert_agents(
            self.ctx, session, ticket, EventKind.DELIVERY_FAILED,
            self.ctx.texts.render("delivery_failed", ref=ticket.ref, channel=row.channel,
                                  reason=reason, excerpt=excerpt),
        )  # fmt: skip


def _fields(row: OutboxRow, reason: str) -> dict[str, object]:
    """A delivery's structured log fields (never the message itself)."""
    return {"channel": row.channel, "outbox_id": row.id, "kind": row.kind,
            "attempt": row.attempts, "error": reason[:300]}  # fmt: skip

"""The delivery worker: claims due outbox rows under a lease, sends them, retries, dead-letters."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import (
    Audience,
    Channel,
    DeliveryError,
    OutboundMessage,
    ReplyTarget,
    SendResult,
)
from core.context import Context
from core.db import Database
from core.models import OutboxRow, OutboxStatus, Ticket, TicketEvent, TriageCard
from core.notify import alert_agents, decode_message
from core.refs import register_keys
from core.tickets import INTERNAL, add_event

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


@dataclass(frozen=True)
class Claimed:
    id: int
    ticket_id: int | None
    channel: str
    target: ReplyTarget
    audience: str
    kind: str
    message_json: str
    attempts: int


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
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(due.scalar_subquery()))
                    .values(
                        lease_owner=self.owner,
                        lease_until=now + LEASE,
                        attempts=OutboxRow.attempts + 1,
                    )
                    .returning(
                        OutboxRow.id,
                        OutboxRow.ticket_id,
                        OutboxRow.channel,
                        OutboxRow.address,
                        OutboxRow.thread,
                        OutboxRow.audience,
                        OutboxRow.kind,
                        OutboxRow.message,
                        OutboxRow.attempts,
                    )
                )
            ).all()
        claimed = [
            Claimed(r.id, r.ticket_id, r.channel, ReplyTarget(r.channel, r.address, r.thread),
                    r.audience, r.kind, r.message, r.attempts)
            for r in rows
        ]  # fmt: skip
        return sorted(claimed, key=lambda item: item.id)

    async def deliver_due(self) -> int:
        """Claim and send one batch; return how many rows were attempted."""
        claimed = await self.claim()
        for item in claimed:
            await self._deliver(item)
        return len(claimed)

    async def _deliver(self, item: Claimed) -> None:
        message = decode_message(item.message_json)
        target = item.target
        channel = self.channels.get(item.channel)
        try:
            if channel is None:
                raise DeliveryError(f"the {item.channel} channel is not running")
            if item.audience == Audience.AGENTS.value:
                target, message = await self._triage_context(item, target, message)
            result = await asyncio.wait_for(channel.send(target, message), SEND_TIMEOUT)
        except DeliveryError as exc:
            await self._failed(item, exc.reason, exc.permanent, exc.retry_after)
        except TimeoutError:
            await self._failed(item, f"no answer within {SEND_TIMEOUT:.0f}s", False, None)
        except Exception as exc:  # an adapter bug must not stop delivery of everything else
            log.exception("delivery of outbox row %s raised", item.id)
            await self._failed(item, f"{type(exc).__name__}: {exc}", False, None)
        else:
            await self._sent(item, result)

    async def _triage_context(
        self, item: Claimed, target: ReplyTarget, message: OutboundMessage
    ) -> tuple[ReplyTarget, OutboundMessage]:
        """Cards are edited in place once posted; alerts go in the card's thread."""
        if item.ticket_id is None:
            return target, message
        async with self.db.sessions() as session:
            card = await session.scalar(
                select(TriageCard).where(
                    TriageCard.ticket_id == item.ticket_id, TriageCard.channel == item.channel
                )
            )
        if card is None or not card.external_id:
            return target, message
        if item.kind == "card":
            return target, replace(message, edit_external_id=card.external_id)
        return ReplyTarget(target.channel, target.address, card.external_id), message

    async def _sent(self, item: Claimed, result: SendResult) -> None:
        now = self.ctx.now()
        async with self.db.transaction() as session:
            row = await session.get(OutboxRow, item.id)
            if row is None or row.lease_owner != self.owner:
                log.warning("outbox row %s was re-leased while sending; sent anyway", item.id)
                if row is None:
                    return
            row.status = OutboxStatus.SENT.value
            row.sent_at = now
            row.external_id = result.external_id
            row.lease_until = None
            row.last_error = ""
            if item.ticket_id is None:
                return
            keys = [result.external_id, *result.thread_keys]
            if result.reply_target is not None:
                keys.append(result.reply_target.thread)
            await register_keys(session, item.channel, keys, item.ticket_id)
            if row.event_id and result.external_id:
                event = await session.get(TicketEvent, row.event_id)
                if event is not None and not event.external_id:
                    event.external_id = result.external_id
            ticket = await session.get(Ticket, item.ticket_id)
            if ticket is not None and result.reply_target is not None:
                if item.audience == Audience.CUSTOMER.value:
                    ticket.reply_channel = result.reply_target.channel
                    ticket.reply_address = result.reply_target.address
                    ticket.reply_thread = result.reply_target.thread
            if item.kind == "card" and result.external_id:
                await _remember_card(session, item, result.external_id)

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
                row.next_attempt_at = now + backoff(row.attempts, retry_after)
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


async def _remember_card(session: AsyncSession, item: Claimed, external_id: str) -> None:
    assert item.ticket_id is not None
    card = await session.scalar(
        select(TriageCard).where(
            TriageCard.ticket_id == item.ticket_id, TriageCard.channel == item.channel
        )
    )
    if card is None:
        session.add(
            TriageCard(
                ticket_id=item.ticket_id,
                channel=item.channel,
                address=item.target.address,
                external_id=external_id,
            )
        )
    elif card.external_id != external_id:
        # First post, or the card was deleted in Slack and posted again: edit the new one.
        card.external_id = external_id

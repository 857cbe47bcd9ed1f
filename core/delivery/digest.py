"""Agents' mail digests: new-ticket notices held back, then mailed together once a period.

An agent with `[agents.<name>] digest = "1h"` gets no new-ticket notice one by one. Each is
written to the outbox as usual but with status `held`, its `next_attempt_at` set one period
after it was queued. The promise loop's tick (`queue_digests`) looks for held rows whose time
has come; for each such mailbox it takes every held row of that mailbox (the due ones first:
the batch is due because its oldest notice has waited a whole period) and queues one `digest`
outbox row carrying their cards, which the delivery worker sends like any other row.

Nothing is kept in memory, so a restart loses nothing. Taking the rows is one UPDATE … WHERE
status = 'held' RETURNING: two processes never both take a row (on PostgreSQL the second waits
for the first's row locks, then finds them taken), so no ticket is in two digests. At most one
digest goes per period: a digest takes all held rows, so the next one waits for a notice queued
after it to be a period old. A ticket resolved (or taken) before its digest goes is listed with
its state at that moment (the card's status and holder are read again), not left out.

Follow-ups, nudges, missed ETAs and delivery failures are never held: they are about tickets an
agent holds (or may answer), and stay immediate.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from core.agents import EMAIL
from core.channel import Audience, OutboundMessage, TicketCard
from core.config import Settings
from core.delivery.rows import decode_message, encode_message
from core.storage.db import Database
from core.storage.models import OutboxKind, OutboxRow, OutboxStatus, Ticket, table_of

_OUTBOX = table_of(OutboxRow)
_TICKETS = table_of(Ticket)


def digest_periods(settings: Settings) -> dict[str, timedelta]:
    """{mailbox address (lower case): period} for every agent who chose a mail digest."""
    return {
        ids.email.strip().lower(): ids.digest
        for ids in settings.agents.values()
        if ids.email and ids.digest > timedelta(0)
    }


def hold_for_digest(periods: dict[str, timedelta], values: dict[str, Any]) -> dict[str, Any]:
    """An outbox row's columns, held for the digest when it is a new-ticket notice to a
    mailbox whose agent chose one (`periods` from `digest_periods`); else unchanged."""
    period = _period_of(periods, values["channel"], values["address"], values["kind"])
    if period is not None:
        values["status"] = OutboxStatus.HELD.value
        values["next_attempt_at"] = values["created_at"] + period
    return values


def hold_row(settings: Settings, row: OutboxRow) -> None:
    """`hold_for_digest` for a row built with the ORM (still in its session)."""
    period = _period_of(digest_periods(settings), row.channel, row.address, row.kind)
    if period is not None:
        row.status = OutboxStatus.HELD.value
        row.next_attempt_at = row.created_at + period


def _period_of(
    periods: dict[str, timedelta], channel: str, address: str, kind: str
) -> timedelta | None:
    if channel != EMAIL or kind != OutboxKind.NEW_TICKET:
        return None
    return periods.get(address.strip().lower())


async def queue_digests(db: Database, now: datetime) -> int:
    """Queue the digest of every mailbox whose oldest held notice has waited its period; how
    many digests were queued. A read first, so a tick with nothing due writes nothing."""
    async with db.sessions() as session:
        due = await session.execute(
            select(OutboxRow.channel, OutboxRow.address)
            .where(
                OutboxRow.status == OutboxStatus.HELD.value,
                OutboxRow.next_attempt_at <= now,
            )
            .distinct()
        )
        mailboxes = sorted({(channel, address) for channel, address in due})
    if not mailboxes:
        return 0

    def fold_all(connection: Connection) -> int:
        rows = [_fold(connection, channel, address, now) for channel, address in mailboxes]
        digests = [row for row in rows if row is not None]
        if digests:
            connection.execute(insert(_OUTBOX), digests)
        return len(digests)

    return await db.write(fold_all)


def _fold(
    connection: Connection, channel: str, address: str, now: datetime
) -> dict[str, Any] | None:
    """Take one mailbox's held notices and return its digest row's columns; None when another
    process took the due ones first."""
    token = uuid.uuid4().hex
    held = (
        _OUTBOX.c.status == OutboxStatus.HELD.value,
        _OUTBOX.c.channel == channel,
        _OUTBOX.c.address == address,
    )
    take = (
        update(_OUTBOX)
        .values(status=OutboxStatus.CANCELLED.value, lease_until=None,
                last_error=f"listed in the digest with token {token}")
        .returning(_OUTBOX.c.id, _OUTBOX.c.ticket_id, _OUTBOX.c.message)
    )  # fmt: skip
    due = connection.execute(take.where(*held, _OUTBOX.c.next_attempt_at <= now)).all()
    if not due:
        return None
    rest = connection.execute(take.where(*held)).all()
    taken = sorted([*due, *rest], key=lambda row: row.id)
    cards = {row.ticket_id: decode_message(row.message).card for row in taken}
    listed = _as_now(connection, {number: card for number, card in cards.items() if card})
    return _digest_values(channel, address, token, listed, now) if listed else None


def _as_now(connection: Connection, cards: dict[int, TicketCard]) -> list[TicketCard]:
    """The cards with their ticket's status, priority and holder as they are now (a ticket may
    have been resolved or taken since it arrived), in ticket order."""
    rows = connection.execute(
        select(_TICKETS.c.id, _TICKETS.c.status, _TICKETS.c.priority, _TICKETS.c.assignee).where(
            _TICKETS.c.id.in_(sorted(cards))
        )
    )
    state = {row.id: row for row in rows}
    listed = []
    for number in sorted(cards):
        card, now = cards[number], state.get(number)
        if now is not None:
            card = replace(card, status=now.status, priority=now.priority,
                           assignee=now.assignee or "")  # fmt: skip
        listed.append(card)
    return listed


def digest_summary(cards: list[TicketCard]) -> str:
    """The digest in a line per ticket (what a channel without its own rendering shows)."""
    return "\n".join(f"{card.ref}: {card.subject} ({card.requester}, by {card.channel})"
                     for card in cards)  # fmt: skip


def _digest_values(
    channel: str, address: str, token: str, cards: list[TicketCard], now: datetime
) -> dict[str, Any]:
    message = OutboundMessage(
        ticket_ref="", subject="New tickets", text=digest_summary(cards),
        kind=OutboxKind.DIGEST.value, automatic=True, token=token, audience=Audience.AGENTS,
        digest=tuple(cards),
    )  # fmt: skip
    return {
        "ticket_id": None, "event_id": None, "contact_id": None, "channel": channel,
        "address": address, "thread": "", "audience": Audience.AGENTS.value,
        "kind": OutboxKind.DIGEST.value, "automatic": True, "token": token,
        "message": encode_message(message), "status": OutboxStatus.PENDING.value,
        "attempts": 0, "next_attempt_at": now, "lease_owner": "", "last_error": "",
        "external_id": "", "created_at": now,
    }  # fmt: skip

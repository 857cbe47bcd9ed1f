"""What the delivery worker sent: the leased row it came from, and the bookkeeping of a batch."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from core.channel import Audience, ReplyTarget, SendResult
from core.storage.models import (
    OutboxRow,
    OutboxStatus,
    Ticket,
    TicketEvent,
    TicketRef,
    TriageCard,
    table_of,
)
from core.tickets.refs import insert_ignore

log = logging.getLogger(__name__)

_OUTBOX = table_of(OutboxRow)
_REFS = table_of(TicketRef)
_EVENTS = table_of(TicketEvent)
_CARDS = table_of(TriageCard)
# Core statements run with executemany: one compiled statement for the whole batch.
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"))
    .values(
        status=OutboxStatus.SENT.value,
        sent_at=bindparam("sent_at"),
        external_id=bindparam("external"),
        lease_until=None,
        last_error="",
    )
)
# An event that already names its platform message keeps that name.
_EVENT_EXTERNAL_ID = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event_id"), _EVENTS.c.external_id == "")
    .values(external_id=bindparam("external"))
)


@dataclass(frozen=True)
class Claimed:
    """An outbox row leased by a worker, with what sending it needs."""

    id: int
    ticket_id: int | None
    event_id: int | None
    channel: str
    target: ReplyTarget
    audience: str
    kind: str
    message_json: str
    attempts: int


def record_sent(
    connection: Connection,
    owner: str,
    now: datetime,
    sent: list[tuple[Claimed, SendResult]],
    stored: Mapping[tuple[int, str], str],
) -> None:
    """Mark a batch's sent rows and remember what the platforms said, in the caller's
    transaction: one executemany per table. `stored` is the card ids already in the database,
    so a card edit that kept its id writes nothing."""
    rows = connection.execute(
        select(_OUTBOX.c.id, _OUTBOX.c.lease_owner).where(
            _OUTBOX.c.id.in_([item.id for item, _ in sent])
        )
    )
    owners: dict[int, str] = {row_id: holder for row_id, holder in rows}
    marks: list[dict[str, Any]] = []
    refs: dict[tuple[str, str], dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    cards = dict(stored)
    posted: dict[tuple[int, str], dict[str, Any]] = {}  # the latest post per card wins
    for item, result in sent:
        holder = owners.get(item.id)
        if holder != owner:
            log.warning("outbox row %s was re-leased while sending; sent anyway", item.id)
            if holder is None:
                continue
        marks.append({"row_id": item.id, "sent_at": now, "external": result.external_id})
        if item.ticket_id is None:
            continue
        keys = [result.external_id, *result.thread_keys]
        if result.reply_target is not None:
            keys.append(result.reply_target.thread)
        for key in sorted({key for key in keys if key}):
            # Rows are in id order, so the first ticket to claim a key keeps it.
            refs.setdefault(
                (item.channel, key),
                {"channel": item.channel, "key": key, "ticket_id": item.ticket_id},
            )
        if item.event_id and result.external_id:
            events.append({"event_id": item.event_id, "external": result.external_id})
        if result.reply_target is not None and item.audience == Audience.CUSTOMER.value:
            _move_reply_target(connection, item.ticket_id, result.reply_target)
        card = (item.ticket_id, item.channel)
        if item.kind == "card" and result.external_id and cards.get(card) != result.external_id:
            # First post, or the card was deleted in Slack and posted again: edit the new one.
            cards[card] = result.external_id
            posted[card] = {
                "ticket_id": item.ticket_id,
                "channel": item.channel,
                "address": item.target.address,
                "external_id": result.external_id,
            }
    if marks:
        connection.execute(_MARK_SENT, marks)
    # The dialect's own INSERT, which has ON CONFLICT on SQLite and PostgreSQL alike.
    insert = insert_ignore(connection.dialect.name)
    if refs:
        connection.execute(insert(_REFS).on_conflict_do_nothing(), list(refs.values()))
    if events:
        connection.execute(_EVENT_EXTERNAL_ID, events)
    if posted:
        upsert = insert(_CARDS)
        connection.execute(
            upsert.on_conflict_do_update(
                index_elements=[_CARDS.c.ticket_id, _CARDS.c.channel],
                set_={"external_id": upsert.excluded.external_id},
            ),
            list(posted.values()),
        )


def _move_reply_target(connection: Connection, ticket_id: int, target: ReplyTarget) -> None:
    """The first message opened the conversation somewhere new: the customer is answered there."""
    connection.execute(
        update(table_of(Ticket))
        .where(table_of(Ticket).c.id == ticket_id)
        .values(
            reply_channel=target.channel, reply_address=target.address, reply_thread=target.thread
        )
    )

"""What the delivery worker sent: marking the rows, and remembering what the platforms said."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from core.channel import Audience, ReplyTarget, SendResult
from core.delivery.cards import Posted, is_mailbox, note_post, remember_posts
from core.delivery.rows import Claimed
from core.storage.models import OutboxRow, OutboxStatus, Ticket, TicketEvent, TicketRef, table_of
from core.tickets.refs import insert_ignore

__all__ = ["Claimed", "record_sent"]

log = logging.getLogger(__name__)

_OUTBOX = table_of(OutboxRow)
_REFS = table_of(TicketRef)
_EVENTS = table_of(TicketEvent)
_TICKETS = table_of(Ticket)
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


@dataclass
class _Bookkeeping:
    """The rows each table gets for one batch of sends."""

    cards: Posted
    marks: list[dict[str, Any]] = field(default_factory=list)
    refs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    moves: dict[int, ReplyTarget] = field(default_factory=dict)
    posts: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)  # latest wins

    def add(self, item: Claimed, result: SendResult, now: datetime) -> None:
        self.marks.append({"row_id": item.id, "sent_at": now, "external": result.external_id})
        if item.ticket_id is None:
            return
        if item.audience == Audience.AGENTS and is_mailbox(item.channel):
            # A notice in an agent's mailbox leads to no ticket: a reply to it counts only
            # with its signed reply address, and its bounce must not alert the agent again.
            return
        keys = [result.external_id, *result.thread_keys]
        if result.reply_target is not None:
            keys.append(result.reply_target.thread)
        for key in sorted({key for key in keys if key}):
            # Rows are in id order, so the first ticket to claim a key keeps it.
            self.refs.setdefault(
                (item.channel, key),
                {"channel": item.channel, "key": key, "ticket_id": item.ticket_id},
            )
        if item.event_id and result.external_id:
            self.events.append({"event_id": item.event_id, "external": result.external_id})
        if result.reply_target is not None and item.audience == Audience.CUSTOMER:
            self.moves[item.ticket_id] = result.reply_target
        if note_post(self.cards, item, result):
            self.posts[item.ticket_id, item.channel] = {
                "ticket_id": item.ticket_id, "channel": item.channel,
                "address": item.target.address, "external_id": result.external_id,
            }  # fmt: skip


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
    holders = dict(
        connection.execute(
            select(_OUTBOX.c.id, _OUTBOX.c.lease_owner).where(
                _OUTBOX.c.id.in_([item.id for item, _ in sent])
            )
        ).all()
    )
    books = _Bookkeeping(cards=dict(stored))
    for item, result in sent:
        holder = holders.get(item.id)
        if holder is None:
            continue  # the row is gone (deleted by hand): nothing to mark
        if holder != owner:
            # A worker sends only while its lease has time left, so this means clocks far apart.
            log.error("outbox row %s was re-leased before its send was recorded", item.id)
        books.add(item, result, now)
    _write(connection, books)


def _write(connection: Connection, books: _Bookkeeping) -> None:
    if books.marks:
        connection.execute(_MARK_SENT, books.marks)
    # The dialect's own INSERT, which has ON CONFLICT on SQLite and PostgreSQL alike.
    insert = insert_ignore(connection.dialect.name)
    if books.refs:
        connection.execute(insert(_REFS).on_conflict_do_nothing(), list(books.refs.values()))
    if books.events:
        connection.execute(_EVENT_EXTERNAL_ID, books.events)
    for ticket_id, target in books.moves.items():
        # The first message opened the conversation somewhere new: the customer is answered
        # there from now on.
        connection.execute(
            update(_TICKETS)
            .where(_TICKETS.c.id == ticket_id)
            .values(
                reply_channel=target.channel,
                reply_address=target.address,
                reply_thread=target.thread,
            )
        )
    remember_posts(connection, books.posts)

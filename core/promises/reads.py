"""What every ticket of one promise-loop batch needs, read in a few grouped queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from core.channel import Audience, CardMatch, ReplyTarget
from core.similar.shown import shown_matches
from core.storage.models import (
    Contact,
    EventKind,
    OutboxKind,
    OutboxRow,
    OutboxStatus,
    Promise,
    Ticket,
    TicketEvent,
)

DAY = timedelta(days=1)
# Advisory locks are keyed (namespace, contact): this namespace is the promise loop's cap.
_CAP_LOCK_NAMESPACE = 7_465_001
_INT4 = 0x7FFFFFFF


@dataclass
class OpenPromise:
    id: int
    kind: str
    due_at: datetime


@dataclass
class BatchReads:
    """The batch's view of the database, kept current as its tickets act (in ticket order)."""

    promises: dict[int, list[OpenPromise]] = field(default_factory=lambda: defaultdict(list))
    # Per contact: the automatic customer messages of the last day, newest first (the cap).
    sent: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    # Per ticket: (channel, external id, kind) of its events with an id, oldest first.
    thread: dict[int, list[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(list))
    first_message: dict[int, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    # (ticket, channel) -> (outbox id, message) of a card update not yet picked up.
    pending_cards: dict[tuple[int, str], tuple[int, str]] = field(default_factory=dict)
    similar: dict[int, tuple[CardMatch, ...]] = field(default_factory=dict)  # on the card

    def open(self, ticket_id: int, kind: str) -> list[OpenPromise]:
        return [p for p in self.promises.get(ticket_id, []) if p.kind == kind]


def lock_contacts(connection: Connection, contact_ids: Iterable[int]) -> None:
    """PostgreSQL: hold each contact's cap until commit, so two loops count and write in turn.

    Advisory locks, not row locks: only promise loops take them, so intake (which writes contacts
    and tickets) never waits on them. Taken in one order, so two loops cannot deadlock."""
    keys = sorted({contact_id & _INT4 for contact_id in contact_ids})
    if not keys:
        return
    connection.execute(
        text(
            "SELECT pg_advisory_xact_lock(:namespace, key) "
            "FROM unnest(CAST(:keys AS integer[])) WITH ORDINALITY AS k(key, n) ORDER BY n"
        ),
        {"namespace": _CAP_LOCK_NAMESPACE, "keys": keys},
    )


def read_batch(
    connection: Connection, tickets: list[Ticket], now: datetime, triage: list[ReplyTarget]
) -> BatchReads:
    reads = BatchReads()
    ids = [ticket.id for ticket in tickets]
    _read_promises(connection, ids, reads)
    _read_sent(connection, {ticket.requester_id for ticket in tickets}, now, reads)
    _read_threads(connection, ids, reads)
    if triage:
        _read_card_parts(connection, tickets, [target.channel for target in triage], reads)
    return reads


def _read_promises(connection: Connection, ids: list[int], reads: BatchReads) -> None:
    rows = connection.execute(
        select(Promise.id, Promise.ticket_id, Promise.kind, Promise.due_at)
        .where(Promise.ticket_id.in_(ids), Promise.settled_at.is_(None))
        .order_by(Promise.id)
    )
    for promise_id, ticket_id, kind, due_at in rows:
        reads.promises[ticket_id].append(OpenPromise(promise_id, kind, due_at))


def _read_sent(
    connection: Connection, contacts: set[int], now: datetime, reads: BatchReads
) -> None:
    """The cap counts automatic customer messages (acks excepted) over a rolling 24 hours."""
    rows = connection.execute(
        select(OutboxRow.contact_id, OutboxRow.created_at)
        .where(
            OutboxRow.contact_id.in_(sorted(contacts)),
            OutboxRow.automatic.is_(True),
            OutboxRow.created_at > now - DAY,
            OutboxRow.audience == Audience.CUSTOMER.value,
            OutboxRow.kind != EventKind.ACK,
            OutboxRow.status != OutboxStatus.CANCELLED,
        )
        .order_by(OutboxRow.created_at.desc())
    )
    for contact_id, created_at in rows:
        if contact_id is not None:  # always set: the query asks for these contacts
            reads.sent[contact_id].append(created_at)


def _read_threads(connection: Connection, ids: list[int], reads: BatchReads) -> None:
    rows = connection.execute(
        select(
            TicketEvent.ticket_id, TicketEvent.channel, TicketEvent.external_id, TicketEvent.kind
        )
        .where(TicketEvent.ticket_id.in_(ids), TicketEvent.external_id != "")
        .order_by(TicketEvent.id)
    )
    for ticket_id, channel, external_id, kind in rows:
        reads.thread[ticket_id].append((channel, external_id, kind))


def _read_card_parts(
    connection: Connection, tickets: list[Ticket], channels: list[str], reads: BatchReads
) -> None:
    """What a triage card shows: the first customer message and the requester's name."""
    ids = [ticket.id for ticket in tickets]
    first = (
        select(func.min(TicketEvent.id))
        .where(TicketEvent.ticket_id.in_(ids), TicketEvent.kind == EventKind.CUSTOMER_MESSAGE)
        .group_by(TicketEvent.ticket_id)
    )
    query = select(TicketEvent.ticket_id, TicketEvent.text).where(TicketEvent.id.in_(first))
    reads.first_message.update((ticket_id, text) for ticket_id, text in connection.execute(query))
    contacts = sorted({ticket.requester_id for ticket in tickets})
    rows = connection.execute(
        select(Contact.id, Contact.name, Contact.address).where(Contact.id.in_(contacts))
    )
    reads.names.update((contact_id, name or address) for contact_id, name, address in rows)
    reads.similar.update(shown_matches(connection, ids))
    pending = connection.execute(
        select(OutboxRow.id, OutboxRow.ticket_id, OutboxRow.channel, OutboxRow.message)
        .where(
            OutboxRow.ticket_id.in_(ids),
            OutboxRow.channel.in_(channels),
            OutboxRow.kind == OutboxKind.CARD,
            OutboxRow.status == OutboxStatus.PENDING,
            OutboxRow.attempts == 0,
            OutboxRow.lease_owner == "",
        )
        .order_by(OutboxRow.id.desc())
    )
    for row_id, ticket_id, channel, message in pending:
        if ticket_id is not None:  # always set: the query asks for these tickets
            reads.pending_cards[(ticket_id, channel)] = (row_id, message)  # the oldest wins

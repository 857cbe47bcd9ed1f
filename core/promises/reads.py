"""What every ticket of one promise-loop batch needs, read in a few grouped queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from core.channel import CardMatch, ReplyTarget
from core.delivery.cards import LastWord, last_word
from core.people import people_of
from core.promises.cap import read_day
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
    # Per person (core/people.py): the automatic customer messages of the last day, newest
    # first (the cap counts a person's messages on all their contacts together).
    sent: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    # contact -> person, for the batch's requesters and every other contact of theirs.
    people: dict[int, int] = field(default_factory=dict)
    # Per ticket: (channel, external id, kind) of its events with an id, oldest first.
    thread: dict[int, list[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(list))
    first_message: dict[int, str] = field(default_factory=dict)
    latest_message: dict[int, LastWord] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    # (ticket, channel) -> (outbox id, message) of a card update not yet picked up.
    pending_cards: dict[tuple[int, str], tuple[int, str]] = field(default_factory=dict)
    similar: dict[int, tuple[CardMatch, ...]] = field(default_factory=dict)  # on the card

    def person(self, contact_id: int) -> int:
        return self.people.get(contact_id, contact_id)

    def open(self, ticket_id: int, kind: str) -> list[OpenPromise]:
        return [p for p in self.promises.get(ticket_id, []) if p.kind == kind]


def lock_people(connection: Connection, contact_ids: Iterable[int]) -> None:
    """PostgreSQL: hold each person's cap until commit, so two loops count and write in turn.

    Advisory locks, not row locks: only promise loops take them, so intake (which writes contacts
    and tickets) never waits on them. Taken in one order, so two loops cannot deadlock."""
    people = set(people_of(connection, contact_ids).values())
    keys = sorted({person & _INT4 for person in people})
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
    day = read_day(connection, {ticket.requester_id for ticket in tickets}, now)
    reads.people, reads.sent = day.people, day.sent
    _read_threads(connection, ids, reads)
    if triage:
        read_card_parts(connection, tickets, [target.channel for target in triage], reads)
    return reads


def _read_promises(connection: Connection, ids: list[int], reads: BatchReads) -> None:
    rows = connection.execute(
        select(Promise.id, Promise.ticket_id, Promise.kind, Promise.due_at)
        .where(Promise.ticket_id.in_(ids), Promise.settled_at.is_(None))
        .order_by(Promise.id)
    )
    for promise_id, ticket_id, kind, due_at in rows:
        reads.promises[ticket_id].append(OpenPromise(promise_id, kind, due_at))


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


def read_card_parts(
    connection: Connection, tickets: list[Ticket], channels: list[str], reads: BatchReads
) -> None:
    """What a triage card shows: the first and latest customer messages, the requester's name."""
    ids = [ticket.id for ticket in tickets]
    _read_card_messages(connection, ids, reads)
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


def _read_card_messages(connection: Connection, ids: list[int], reads: BatchReads) -> None:
    """Each ticket's first and latest customer message: two grouped reads for the batch."""
    ends = connection.execute(
        select(TicketEvent.ticket_id, func.min(TicketEvent.id), func.max(TicketEvent.id))
        .where(TicketEvent.ticket_id.in_(ids), TicketEvent.kind == EventKind.CUSTOMER_MESSAGE)
        .group_by(TicketEvent.ticket_id)
    ).all()
    wanted = sorted({event_id for _, first, last in ends for event_id in (first, last)})
    said = {
        row.id: row
        for row in connection.execute(
            select(TicketEvent.id, TicketEvent.text, TicketEvent.at, TicketEvent.author).where(
                TicketEvent.id.in_(wanted)
            )
        )
    }
    for ticket_id, first, last in ends:
        latest = said[last]
        reads.first_message[ticket_id] = said[first].text
        reads.latest_message[ticket_id] = last_word(
            first, last, latest.text, latest.at, latest.author
        )

"""What one promise-loop batch writes, gathered per ticket and sent as a few grouped statements."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import configure_mappers

from core import metrics
from core.intake.opening import allocate_ids
from core.promises.kinds import PromiseKind
from core.storage.models import OutboxRow, Promise, Ticket, TicketEvent, TicketRef, table_of
from core.tickets.refs import insert_ignore

log = logging.getLogger("core.promises")

EVENTS, OUTBOX, PROMISES = table_of(TicketEvent), table_of(OutboxRow), table_of(Promise)
TICKETS, REFS = table_of(Ticket), table_of(TicketRef)
# The ticket columns the loop moves; the batch writes them back for each ticket that changed.
configure_mappers()  # the instrumentation detached_ticket relies on, set up once
_TICKET_CLASS = Ticket.__mapper__.class_manager
TICKET_STATE = ("next_update_due", "nudged_for", "eta_apologized", "last_public_at", "updated_at")


def detached_ticket(row: Mapping[Any, Any]) -> Ticket:
    """A Ticket holding a row's values, in no session: its attributes change freely and nothing
    is flushed. Filled the way the ORM fills a loaded object, without the constructor's
    per-attribute events (twenty times cheaper, and the loop makes one per ticket)."""
    ticket: Ticket = _TICKET_CLASS.new_instance()
    ticket.__dict__.update(row)
    return ticket


def ticket_state(ticket: Ticket) -> dict[str, Any]:
    return {column: getattr(ticket, column) for column in TICKET_STATE}


@dataclass
class Writes:
    """Rows to insert and update, in the order the old one-ticket-at-a-time loop wrote them."""

    events: list[dict[str, Any]] = field(default_factory=list)
    # An outbox row's values, and the index in `events` of the event it delivers.
    outbox: list[tuple[dict[str, Any], int | None]] = field(default_factory=list)
    refs: list[dict[str, Any]] = field(default_factory=list)
    promises: list[dict[str, Any]] = field(default_factory=list)
    settled: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)
    # Told once the batch has committed: (promise kind, kept) per settled promise for the
    # counter, and (message, log fields) per action for the log.
    counted: list[tuple[str, bool | None]] = field(default_factory=list)
    happened: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def event(self, values: dict[str, Any]) -> int:
        self.events.append(values)
        return len(self.events) - 1

    def extend(self, other: Writes) -> None:
        """Take one ticket's writes, once all of them were worked out without an error."""
        offset = len(self.events)
        self.events += other.events
        self.outbox += [
            (values, None if index is None else index + offset) for values, index in other.outbox
        ]
        self.refs += other.refs
        self.promises += other.promises
        self.settled += other.settled
        self.tickets += other.tickets
        self.cards += other.cards
        self.counted += other.counted
        self.happened += other.happened

    def report(self) -> None:
        """After the commit: count the promises settled and log each action taken."""
        for kind in PromiseKind:
            results = [kept for counted, kept in self.counted if counted == kind]
            metrics.promise_settled(kind, True, results.count(True))
            metrics.promise_settled(kind, False, results.count(False))
        for message, fields in self.happened:
            log.info(message, extra=fields)

    def apply(self, connection: Connection) -> None:
        """One statement per table (executemany), in the caller's transaction."""
        event_ids: list[int] = []
        if self.events and connection.dialect.name == "sqlite":
            # SQLAlchemy returns ordered ids from SQLite one row (one statement) at a time:
            # the ids are reserved instead, and the rows go in one executemany.
            event_ids = allocate_ids(connection, TicketEvent, len(self.events))
            numbered = [
                {**values, "id": id_} for values, id_ in zip(self.events, event_ids, strict=True)
            ]
            connection.execute(insert(EVENTS), numbered)
        elif self.events:
            returning = insert(EVENTS).returning(EVENTS.c.id, sort_by_parameter_order=True)
            event_ids = list(connection.execute(returning, self.events).scalars())
        if self.outbox:
            rows = [
                {**values, "event_id": None if index is None else event_ids[index]}
                for values, index in self.outbox
            ]
            connection.execute(insert(OUTBOX), rows)
        if self.refs:
            dialect = connection.dialect.name
            connection.execute(insert_ignore(dialect)(REFS).on_conflict_do_nothing(), self.refs)
        if self.promises:
            connection.execute(insert(PROMISES), self.promises)
        if self.settled:
            by_id = PROMISES.c.id == bindparam("promise_id")
            connection.execute(update(PROMISES).where(by_id), self.settled)
        if self.tickets:
            by_id = TICKETS.c.id == bindparam("ticket_id")
            connection.execute(update(TICKETS).where(by_id), self.tickets)
        if self.cards:
            by_id = OUTBOX.c.id == bindparam("card_id")
            connection.execute(update(OUTBOX).where(by_id), self.cards)

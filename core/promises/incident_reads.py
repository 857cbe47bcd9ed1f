"""What the promise loop reads about incidents: which owe something now, and their tickets.

While a ticket is linked to an open incident, the incident's promise is the ticket's: the
ticket scans leave it out (`linked_to_open_incident`), and the incident is owed its next update
by the earliest time any of its customers was promised one (its own `next_update_due`, or a
linked ticket's, e.g. one promised before it was linked)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from core.promises.writes import TICKETS, detached_ticket
from core.storage.incident_models import Incident, IncidentLink, IncidentState
from core.storage.models import ACTIVE_STATUSES, Ticket, table_of

INCIDENTS, LINKS = table_of(Incident), table_of(IncidentLink)
_ACTIVE = [status.value for status in ACTIVE_STATUSES]
_RESOLVED = IncidentState.RESOLVED.value
# Named, not "not resolved": the state index then reads only the open incidents, however many
# resolved ones the history holds.
_OPEN = [state.value for state in IncidentState if state != IncidentState.RESOLVED]


def linked_to_open_incident(ticket_id: Any) -> ColumnElement[bool]:
    """Whether the ticket is linked to an incident that is not resolved (a primary-key probe)."""
    return exists(
        select(LINKS.c.ticket_id)
        .select_from(LINKS.join(INCIDENTS, INCIDENTS.c.id == LINKS.c.incident_id))
        .where(LINKS.c.ticket_id == ticket_id, INCIDENTS.c.state != _RESOLVED)
    )


def _owed(due: Any, nudged_for: Any, now: datetime, horizon: datetime) -> ColumnElement[bool]:
    """An update due by `now`, or due within the nudge horizon and not nudged for yet."""
    return and_(due <= horizon, or_(due <= now, nudged_for.is_(None), nudged_for != due))


def due_incidents(now: datetime, horizon: datetime) -> Any:
    """The open incidents that owe an update, a nudge or an apology now: their ids."""
    ticket_first = (
        select(LINKS.c.ticket_id)
        .select_from(LINKS.join(TICKETS, TICKETS.c.id == LINKS.c.ticket_id))
        .where(
            LINKS.c.incident_id == INCIDENTS.c.id,
            TICKETS.c.status.in_(_ACTIVE),
            _owed(TICKETS.c.next_update_due, INCIDENTS.c.nudged_for, now, horizon),
            or_(
                INCIDENTS.c.next_update_due.is_(None),
                TICKETS.c.next_update_due < INCIDENTS.c.next_update_due,
            ),
        )
    )
    eta_missed = and_(
        INCIDENTS.c.eta <= now,
        or_(INCIDENTS.c.eta_apologized.is_(None), INCIDENTS.c.eta_apologized != INCIDENTS.c.eta),
    )
    return (
        select(INCIDENTS.c.id)
        .where(
            INCIDENTS.c.state.in_(_OPEN),
            or_(
                _owed(INCIDENTS.c.next_update_due, INCIDENTS.c.nudged_for, now, horizon),
                eta_missed,
                exists(ticket_first),
            ),
        )
        .order_by(INCIDENTS.c.id)
    )


@dataclass
class OpenIncident:
    """An incident row as the loop acts on it, with its linked open tickets (detached)."""

    id: int
    title: str
    state: str
    eta: datetime | None
    next_update_due: datetime | None
    nudged_for: datetime | None
    eta_apologized: datetime | None
    tickets: list[Ticket]

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"

    def earliest_due(self) -> datetime | None:
        """The incident's promise: the earliest next update owed to any of its customers."""
        times = [self.next_update_due] + [ticket.next_update_due for ticket in self.tickets]
        return min((moment for moment in times if moment is not None), default=None)

    def missed_eta(self, now: datetime) -> datetime | None:
        """The incident's ETA when it has passed with its apology still owed."""
        if self.eta is None or self.eta > now or self.eta_apologized == self.eta:
            return None
        return self.eta


def lock_incident(connection: Connection, number: int, skip_locked: bool) -> OpenIncident | None:
    """The open incident and its linked open tickets, locked in that order (the order the
    incident verbs lock them in); None when it is resolved or another loop holds it."""
    query = select(INCIDENTS).where(INCIDENTS.c.id == number, INCIDENTS.c.state != _RESOLVED)
    row = connection.execute(query.with_for_update(skip_locked=skip_locked)).first()
    if row is None:
        return None
    tickets = connection.execute(
        select(TICKETS)
        .join(LINKS, LINKS.c.ticket_id == TICKETS.c.id)
        .where(LINKS.c.incident_id == number, TICKETS.c.status.in_(_ACTIVE))
        .order_by(TICKETS.c.id)
        .with_for_update(of=TICKETS)
    )
    return OpenIncident(
        id=row.id, title=row.title, state=row.state, eta=row.eta,
        next_update_due=row.next_update_due, nudged_for=row.nudged_for,
        eta_apologized=row.eta_apologized,
        tickets=[detached_ticket(ticket._mapping) for ticket in tickets],
    )  # fmt: skip


def chunks(tickets: Sequence[Ticket], size: int) -> list[Sequence[Ticket]]:
    return [tickets[start : start + size] for start in range(0, len(tickets), size)]

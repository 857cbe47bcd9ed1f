"""What the customer's ticket page shows: the ticket in plain words and its public timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.incident_models import Incident, IncidentLink
from core.storage.models import EventKind, Status, Ticket, TicketEvent, Visibility
from core.texts import Texts

# What the customer may read of the timeline: what they wrote and what we told them. Notes,
# nudges, assignments, delivery failures and auto-replies stay with the agents, even when a
# row is marked public.
SHOWN = {
    EventKind.CUSTOMER_MESSAGE: "Message",
    EventKind.ACK: "We logged your message",
    EventKind.AGENT_REPLY: "Reply",
    EventKind.STATUS_UPDATE: "Status update",
    EventKind.APOLOGY: "Apology",
    EventKind.ETA_SET: "Expected fix",
    EventKind.WAITING: "Waiting",
    EventKind.RESOLVED: "Resolved",
    EventKind.REOPENED: "Reopened",
    EventKind.CLOSED: "Closed",
}
# Timelines longer than this show their newest events (a ticket's story is rarely this long).
MOST_EVENTS = 200


def status_words(ticket: Ticket) -> str:
    """The ticket's status as the customer says it."""
    if ticket.status == Status.NEW:
        return "Received: a person will pick it up"
    if ticket.status == Status.OPEN:
        return "Being worked on"
    if ticket.status == Status.WAITING:
        return f"Waiting on {ticket.waiting_on}" if ticket.waiting_on else "Waiting on a reply"
    if ticket.status == Status.RESOLVED:
        return "Resolved"
    return "Closed"


def _author(texts: Texts, event: TicketEvent) -> str:
    if event.kind == EventKind.CUSTOMER_MESSAGE:
        return "You"
    if event.author in ("", "tidings"):
        return f"{texts.team} (automatic)"
    return texts.person(event.author)


async def ticket_page_data(
    session: AsyncSession, texts: Texts, ticket_id: int, now: datetime
) -> dict[str, Any] | None:
    """Everything the page and its JSON show, times already in the desk's words and zone."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    incident = (
        await session.execute(
            select(Incident)
            .join(IncidentLink, IncidentLink.incident_id == Incident.id)
            .where(IncidentLink.ticket_id == ticket_id)
        )
    ).scalar_one_or_none()
    events = (
        await session.scalars(
            select(TicketEvent)
            .where(
                TicketEvent.ticket_id == ticket_id,
                TicketEvent.visibility == Visibility.PUBLIC,
                TicketEvent.kind.in_([kind.value for kind in SHOWN]),
            )
            .order_by(TicketEvent.id.desc())
            .limit(MOST_EVENTS)
        )
    ).all()

    def when(moment: datetime | None, missing: str) -> str:
        return texts.when(moment, now) if moment is not None else missing

    active = ticket.status in (Status.NEW, Status.OPEN, Status.WAITING)
    return {
        "ref": ticket.ref,
        "subject": ticket.subject,
        "status": ticket.status,
        "status_words": status_words(ticket),
        "assignee": texts.person(ticket.assignee) if ticket.assignee else "not assigned yet",
        "eta": when(ticket.eta, "not known yet"),
        "next_update": when(ticket.next_update_due, "none planned") if active else "none",
        "waiting_on": ticket.waiting_on or "nothing",
        "incident": None
        if incident is None
        else {
            "ref": incident.ref,
            "title": incident.title if incident.public else "",
            "state": incident.state.capitalize(),
        },
        "open": active or ticket.status == Status.RESOLVED,
        "events": [
            {
                "kind": event.kind,
                "label": SHOWN[EventKind(event.kind)],
                "author": _author(texts, event),
                "text": event.text,
                "at": when(event.at, ""),
                "mine": event.kind == EventKind.CUSTOMER_MESSAGE,
            }
            for event in reversed(events)
        ],
    }

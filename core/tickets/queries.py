"""Read-only views of tickets, as the CLI prints them (`--json`) and tests inspect them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.pages.tokens import stored_page_url
from core.storage.incident_models import IncidentLink
from core.storage.models import AttachmentRow, Contact, Promise, Ticket, TicketEvent


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ticket_summary(ticket: Ticket, requester: Contact | None) -> dict[str, Any]:
    return {
        "ref": ticket.ref,
        "number": ticket.id,
        "status": ticket.status,
        "priority": ticket.priority,
        "channel": ticket.reply_channel,
        "subject": ticket.subject,
        "requester": {
            "channel": requester.channel if requester else "",
            "address": requester.address if requester else "",
            "name": requester.name if requester else "",
        },
        "assignee": ticket.assignee,
        "eta": iso(ticket.eta),
        "next_update_due": iso(ticket.next_update_due),
        "waiting_on": ticket.waiting_on or None,
        "linked_ticket": f"T-{ticket.linked_ticket_id}" if ticket.linked_ticket_id else None,
        "created_at": iso(ticket.created_at),
        "first_response_at": iso(ticket.first_response_at),
        "resolved_at": iso(ticket.resolved_at),
        "closed_at": iso(ticket.closed_at),
        "reply_target": {
            "channel": ticket.reply_channel,
            "address": ticket.reply_address,
            "thread": ticket.reply_thread,
        },
    }


async def list_tickets(
    session: AsyncSession, status: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    query = select(Ticket, Contact).join(Contact, Contact.id == Ticket.requester_id)
    if status:
        query = query.where(Ticket.status == status)
    rows = (await session.execute(query.order_by(Ticket.id).limit(limit))).all()
    return [ticket_summary(ticket, contact) for ticket, contact in rows]


async def show_ticket(
    session: AsyncSession, number: int, settings: Settings | None = None
) -> dict[str, Any] | None:
    """One ticket with its timeline, promises and attachments; with `settings`, also the link
    to its page (`page_url`, None when the desk has no `[web] public_url`)."""
    ticket = await session.get(Ticket, number)
    if ticket is None:
        return None
    contact = await session.get(Contact, ticket.requester_id)
    data = ticket_summary(ticket, contact)
    incident = await session.scalar(
        select(IncidentLink.incident_id).where(IncidentLink.ticket_id == number)
    )
    data["incident"] = f"INC-{incident}" if incident is not None else None
    data["page_url"] = (
        await stored_page_url(settings, session, number) if settings is not None else None
    )
    events = (
        await session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == number).order_by(TicketEvent.id)
        )
    ).all()
    data["events"] = [
        {
            "kind": event.kind,
            "visibility": event.visibility,
            "author": event.author,
            "text": event.text,
            "at": iso(event.at),
            "channel": event.channel or None,
        }
        for event in events
    ]
    promises = (
        await session.scalars(
            select(Promise).where(Promise.ticket_id == number).order_by(Promise.id)
        )
    ).all()
    data["promises"] = [
        {
            "kind": promise.kind,
            "due_at": iso(promise.due_at),
            "made_at": iso(promise.made_at),
            "kept": promise.kept,
            "settled_at": iso(promise.settled_at),
            "settled_by": promise.settled_by or None,
        }
        for promise in promises
    ]
    attachments = (
        await session.scalars(select(AttachmentRow).where(AttachmentRow.ticket_id == number))
    ).all()
    data["attachments"] = [
        {"name": a.name, "content_type": a.content_type, "size": a.size, "stored_at": a.stored_at}
        for a in attachments
    ]
    return data

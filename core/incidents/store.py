"""Reading and changing incidents inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.incident_models import Incident, IncidentLink, IncidentState, IncidentUpdate

# The kind of the update that opens an incident: a fact, not news a customer needs to hear.
OPENED = "opened"
# Timeline kinds on a ticket for linking and unlinking (internal notes for the team).
TICKET_LINKED = "incident_linked"
TICKET_UNLINKED = "incident_unlinked"

# Bumped by every change made in this process, so a page cache here can tell it is stale at
# once; other processes' changes are picked up when the cache's short lifetime ends.
_revision = [0]


def revision() -> int:
    return _revision[0]


def mark_changed() -> None:
    _revision[0] += 1


async def locked_incident(session: AsyncSession, number: int) -> Incident | None:
    return await session.get(Incident, number, with_for_update=True)


def add_update(
    session: AsyncSession, incident: Incident, kind: str, text: str, author: str, now: datetime
) -> IncidentUpdate:
    """A new entry on the incident's public timeline, in its current state."""
    update = IncidentUpdate(
        incident_id=incident.id, kind=kind, state=incident.state, text=text, author=author, at=now
    )
    session.add(update)
    incident.updated_at = now
    mark_changed()
    return update


async def updates_of(session: AsyncSession, incident_id: int) -> Sequence[IncidentUpdate]:
    """The incident's timeline, oldest first."""
    query = select(IncidentUpdate).where(IncidentUpdate.incident_id == incident_id)
    return (await session.scalars(query.order_by(IncidentUpdate.id))).all()


async def latest_news(session: AsyncSession, incident_id: int) -> IncidentUpdate | None:
    """The newest update that says something beyond the incident being opened."""
    query = (
        select(IncidentUpdate)
        .where(IncidentUpdate.incident_id == incident_id, IncidentUpdate.kind != OPENED)
        .order_by(IncidentUpdate.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def linked_refs(session: AsyncSession, incident_id: int) -> list[str]:
    query = select(IncidentLink.ticket_id).where(IncidentLink.incident_id == incident_id)
    return [
        f"T-{number}"
        for number in (await session.scalars(query.order_by(IncidentLink.ticket_id))).all()
    ]


def is_resolved(incident: Incident) -> bool:
    return incident.state == IncidentState.RESOLVED

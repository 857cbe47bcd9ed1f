"""Read-only views of incidents, as the CLI prints them and the status page shows them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.incidents.store import linked_refs, updates_of
from core.storage.incident_models import Incident, IncidentState, IncidentUpdate
from core.tickets.queries import iso

# Resolved incidents stay on the status page this long.
RECENT = timedelta(days=14)


def incident_summary(incident: Incident, updates: list[IncidentUpdate]) -> dict[str, Any]:
    """The public keys of an incident, updates newest first (never who wrote them)."""
    return {
        "ref": incident.ref,
        "title": incident.title,
        "state": incident.state,
        "service": incident.service or None,
        "started_at": iso(incident.started_at),
        "eta": iso(incident.eta),
        "next_update_due": iso(incident.next_update_due),
        "resolved_at": iso(incident.resolved_at),
        "updates": [
            {"at": iso(update.at), "state": update.state, "text": update.text}
            for update in sorted(updates, key=lambda update: update.id, reverse=True)
        ],
    }


async def show_incident(session: AsyncSession, number: int) -> dict[str, Any] | None:
    incident = await session.get(Incident, number)
    if incident is None:
        return None
    view = incident_summary(incident, list(await updates_of(session, number)))
    view["tickets"] = await linked_refs(session, number)
    return view


async def list_incidents(session: AsyncSession, limit: int = 1000) -> list[dict[str, Any]]:
    """Every incident, newest first, each with its linked tickets."""
    incidents = (
        await session.scalars(select(Incident).order_by(Incident.id.desc()).limit(limit))
    ).all()
    views = []
    for incident in incidents:
        view = incident_summary(incident, list(await updates_of(session, incident.id)))
        view["tickets"] = await linked_refs(session, incident.id)
        views.append(view)
    return views


async def public_incidents(session: AsyncSession, now: datetime) -> dict[str, Any]:
    """What the status page shows: open public incidents, and those resolved lately.

    Two queries whatever the number of incidents: the incidents, then all their updates."""
    query = (
        select(Incident)
        .where(
            Incident.public.is_(True),
            or_(Incident.state != IncidentState.RESOLVED, Incident.resolved_at >= now - RECENT),
        )
        .order_by(Incident.started_at.desc(), Incident.id.desc())
    )
    incidents = (await session.scalars(query)).all()
    by_incident: dict[int, list[IncidentUpdate]] = {incident.id: [] for incident in incidents}
    if by_incident:
        rows = await session.scalars(
            select(IncidentUpdate).where(IncidentUpdate.incident_id.in_(list(by_incident)))
        )
        for update in rows:
            by_incident[update.incident_id].append(update)
    open_: list[dict[str, Any]] = []
    recent: list[dict[str, Any]] = []
    for incident in incidents:
        view = incident_summary(incident, by_incident[incident.id])
        (recent if incident.state == IncidentState.RESOLVED else open_).append(view)
    changed = max((incident.updated_at for incident in incidents), default=None)
    return {"incidents": open_, "recent": recent, "changed_at": changed}


def incident_lines(when: Callable[[datetime | None], str], view: dict[str, Any]) -> list[str]:
    """An incident for people: a headline, its times and tickets, then its updates newest first."""

    def at(value: str | None) -> str:
        return when(datetime.fromisoformat(value) if value else None)

    tickets = view.get("tickets") or []
    lines = [
        f"{view['ref']} [{view['state']}] {view['title']} — "
        f"{len(tickets)} ticket(s), started {at(view['started_at'])}",
        f"eta: {at(view['eta'])} · next update due: {at(view['next_update_due'])}"
        + (f" · resolved {at(view['resolved_at'])}" if view["resolved_at"] else ""),
        "tickets: " + (", ".join(tickets) or "none linked"),
    ]
    lines += [f"  {at(u['at'])} [{u['state']}] {u['text']}".rstrip() for u in view["updates"]]
    return lines

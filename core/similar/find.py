"""Finding the open tickets and incidents that look like one ticket, at a bounded cost.

Candidates come from the similar_keys index: for each of the ticket's (at most 12) keys, the
newest PER_KEY tickets filed under it, read in the primary key's order, so each lookup costs
a B-tree descent and PER_KEY rows whatever the number of tickets. Those candidates (at most
12 × PER_KEY) and the open incidents (at most INCIDENTS newest) are scored with rapidfuzz's
WRatio on their distinctive words; SHOWN best at MIN_SCORE or more are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import select, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from core.similar.words import distinctive_words, joined
from core.storage.incident_models import Incident, IncidentLink, IncidentState
from core.storage.models import ACTIVE_STATUSES, Ticket
from core.storage.similar_models import SimilarKey, SimilarText

PER_KEY = 40
INCIDENTS = 50
SHOWN = 5
MIN_SCORE = 70
OPEN_INCIDENT = (IncidentState.INVESTIGATING, IncidentState.IDENTIFIED, IncidentState.MONITORING)


@dataclass(frozen=True)
class Found:
    """One match: a ticket (`number`) or an incident (`incident_id`), and how alike (0-100)."""

    ref: str
    subject: str
    score: int
    number: int | None = None
    incident_id: int | None = None
    status: str = ""


def candidate_ids(connection: Connection, keys: Sequence[str], below: int | None) -> list[int]:
    """The newest PER_KEY tickets under each key (below ticket `below` when given)."""
    if not keys:
        return []
    parts = []
    for key in keys:
        query = select(SimilarKey.ticket_id).where(SimilarKey.key == key)
        if below is not None:
            query = query.where(SimilarKey.ticket_id < below)
        inner = query.order_by(SimilarKey.ticket_id.desc()).limit(PER_KEY).subquery()
        parts.append(select(inner.c.ticket_id))
    return sorted(set(connection.scalars(union_all(*parts))))


def _open_tickets(connection: Connection, ids: list[int]) -> list[tuple[int, str, str, str]]:
    """(id, subject, status, words) of the candidates still open."""
    if not ids:
        return []
    rows = connection.execute(
        select(Ticket.id, Ticket.subject, Ticket.status, SimilarText.words)
        .join(SimilarText, SimilarText.ticket_id == Ticket.id)
        .where(Ticket.id.in_(ids), Ticket.status.in_([s.value for s in ACTIVE_STATUSES]))
    )
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def _open_incidents(connection: Connection) -> list[tuple[int, str, str]]:
    rows = connection.execute(
        select(Incident.id, Incident.title, Incident.state)
        .where(Incident.state.in_([state.value for state in OPEN_INCIDENT]))
        .order_by(Incident.id.desc())
        .limit(INCIDENTS)
    )
    return [(row[0], row[1], row[2]) for row in rows]


def find_similar(
    connection: Connection,
    words: str,
    keys: Sequence[str],
    *,
    exclude: int,
    below: int | None = None,
    limit: int = SHOWN,
) -> list[Found]:
    """The best matches for a ticket's words among open tickets and open incidents."""
    if not words:
        return []
    choices: dict[tuple[str, int], str] = {}
    details: dict[tuple[str, int], Found] = {}
    for number, subject, status, text in _open_tickets(
        connection, [n for n in candidate_ids(connection, keys, below) if n != exclude]
    ):
        choices["T", number] = text
        details["T", number] = Found(f"T-{number}", subject, 0, number=number, status=status)
    for number, title, state in _open_incidents(connection):
        choices["I", number] = joined(distinctive_words(title, ""))
        details["I", number] = Found(f"INC-{number}", title, 0, incident_id=number, status=state)
    best = process.extract(words, choices, scorer=fuzz.WRatio, limit=limit, score_cutoff=MIN_SCORE)
    found = [(details[key], round(score)) for _, score, key in best]
    return [
        Found(item.ref, item.subject, score, item.number, item.incident_id, item.status)
        for item, score in found
    ]


def linked_incidents(connection: Connection, numbers: Sequence[int]) -> dict[int, int]:
    """{ticket: open incident} for those of `numbers` linked to an incident not resolved."""
    if not numbers:
        return {}
    rows = connection.execute(
        select(IncidentLink.ticket_id, IncidentLink.incident_id)
        .join(Incident, Incident.id == IncidentLink.incident_id)
        .where(
            IncidentLink.ticket_id.in_(sorted(set(numbers))),
            Incident.state.in_([state.value for state in OPEN_INCIDENT]),
        )
    )
    return {ticket_id: incident_id for ticket_id, incident_id in rows}


async def open_incident_choices(
    session: AsyncSession, text: str, limit: int = 25
) -> list[tuple[str, str]]:
    """(ref, title) of open incidents whose number or title holds `text`, newest first."""
    needle = text.strip()
    query = select(Incident.id, Incident.title).where(
        Incident.state.in_([state.value for state in OPEN_INCIDENT])
    )
    number = needle.upper().removeprefix("INC-").removeprefix("INC")
    if needle and number.isdigit() and len(number) <= 12:
        query = query.where(Incident.id == int(number))
    elif needle:
        query = query.where(Incident.title.ilike(f"%{needle[:100]}%"))
    rows = await session.execute(query.order_by(Incident.id.desc()).limit(limit))
    return [(f"INC-{number}", title) for number, title in rows]

"""Possible incidents: when `[incidents] suggest_after` similar tickets arrive within
`suggest_window`, one suggestion (P-n) holds them, and its card goes to the agents once.

A ticket is a member of one suggestion at most (the primary key of suggestion_members): a
later ticket like the cluster joins its suggestion instead of making a second card."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection

from core.similar.find import Found
from core.similar.words import common_title
from core.storage.incident_models import IncidentLink
from core.storage.models import ACTIVE_STATUSES, Ticket, table_of
from core.storage.similar_models import Suggestion, SuggestionMember
from core.tickets.refs import insert_ignore

_MEMBERS = table_of(SuggestionMember)
_SUGGESTIONS = table_of(Suggestion)


@dataclass(frozen=True)
class NewSuggestion:
    """A suggestion just made: its card names these tickets (oldest first)."""

    number: int
    title: str
    members: list[tuple[int, str]]  # (ticket id, subject)


def _recent_unlinked(connection: Connection, numbers: Sequence[int], since: datetime) -> list[int]:
    """Those of `numbers` opened since `since`, still open and in no incident."""
    if not numbers:
        return []
    linked = select(IncidentLink.ticket_id).where(IncidentLink.ticket_id.in_(numbers))
    query = select(Ticket.id).where(
        Ticket.id.in_(numbers),
        Ticket.created_at >= since,
        Ticket.status.in_([status.value for status in ACTIVE_STATUSES]),
        Ticket.id.not_in(linked),
    )
    return sorted(connection.scalars(query))


def _open_suggestion_of(connection: Connection, numbers: Sequence[int]) -> int | None:
    """The not-yet-opened suggestion one of `numbers` belongs to, if any."""
    if not numbers:
        return None
    query = (
        select(SuggestionMember.suggestion_id)
        .join(Suggestion, Suggestion.id == SuggestionMember.suggestion_id)
        .where(SuggestionMember.ticket_id.in_(numbers), Suggestion.incident_id.is_(None))
        .order_by(SuggestionMember.suggestion_id)
        .limit(1)
    )
    found: int | None = connection.scalar(query)
    return found


def _join(connection: Connection, suggestion: int, numbers: Sequence[int]) -> int:
    """Add tickets to a suggestion; those already in one stay where they are. How many it has."""
    rows = [{"ticket_id": number, "suggestion_id": suggestion} for number in numbers]
    upsert = insert_ignore(connection.dialect.name)(_MEMBERS)
    connection.execute(upsert.on_conflict_do_nothing(), rows)
    count = select(func.count()).where(_MEMBERS.c.suggestion_id == suggestion)
    return int(connection.scalar(count) or 0)


def consider(
    connection: Connection,
    number: int,
    found: Sequence[Found],
    subjects: dict[int, str],
    *,
    now: datetime,
    window: timedelta,
    after: int,
) -> NewSuggestion | None:
    """Ticket `number` with its matches: join a suggestion, make a new one, or nothing."""
    similar = [item.number for item in found if item.number is not None]
    recent = _recent_unlinked(connection, similar, now - window)
    if not recent:
        return None
    existing = _open_suggestion_of(connection, recent)
    if existing is not None:
        _join(connection, existing, [number])
        return None
    members = sorted({number, *recent})
    if len(members) < after:
        return None
    titles = dict(
        connection.execute(select(Ticket.id, Ticket.subject).where(Ticket.id.in_(members))).all()
    )
    titles.update((n, s) for n, s in subjects.items() if n in members)
    title = common_title([titles[n] for n in members if n in titles])
    made = connection.execute(
        insert(_SUGGESTIONS).values(title=title, created_at=now, opened_by="")
    ).inserted_primary_key
    assert made is not None
    suggestion = int(made[0])
    if _join(connection, suggestion, members) < after:
        # Another processor filed some of these at the same moment: theirs is the one card.
        connection.execute(delete(_MEMBERS).where(_MEMBERS.c.suggestion_id == suggestion))
        connection.execute(delete(_SUGGESTIONS).where(_SUGGESTIONS.c.id == suggestion))
        return None
    return NewSuggestion(suggestion, title, [(n, titles.get(n, "")) for n in members])

"""Finding the open tickets and incidents that look like one ticket, at a bounded cost.

Candidates come from the similar_keys index: for each of the ticket's (at most 12) keys, the
newest PER_KEY tickets filed under it, read in the primary key's order, so each lookup costs
a B-tree descent and PER_KEY rows whatever the number of tickets. Those candidates (at most
12 × PER_KEY) and the open incidents (at most INCIDENTS newest) are scored with rapidfuzz's
WRatio on their distinctive words; SHOWN best at MIN_SCORE or more are kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import Integer, bindparam, column, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from core.similar.words import KEY_WORDS, distinctive_words, joined
from core.storage.incident_models import Incident, IncidentLink, IncidentState
from core.storage.models import ACTIVE_STATUSES, Ticket
from core.storage.similar_models import SimilarText

PER_KEY = 20
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


# One statement for any ticket: KEY_WORDS slots (unused ones look up a key no ticket has), so
# it is compiled once; each slot reads the newest PER_KEY ids of one key from the primary key.
_SLOT = (
    "SELECT ticket_id FROM (SELECT ticket_id FROM similar_keys WHERE key = :key{n} "
    "AND ticket_id < :below ORDER BY ticket_id DESC LIMIT :per_key) AS slot{n}"
)
_CANDIDATES = text(" UNION ".join(_SLOT.format(n=n) for n in range(KEY_WORDS)))
_CANDIDATE_IDS = _CANDIDATES.columns(column("ticket_id", Integer)).subquery("candidates")
# The candidates still open, with their words, in the same statement: one round trip, and no
# list of ids bound back in (building that IN list cost more than the lookups themselves).
_OPEN_CANDIDATES = (
    select(Ticket.id, Ticket.subject, Ticket.status, SimilarText.words)
    .join(SimilarText, SimilarText.ticket_id == Ticket.id)
    .where(
        Ticket.id.in_(select(_CANDIDATE_IDS.c.ticket_id)),
        Ticket.id != bindparam("exclude"),
        Ticket.status.in_([status.value for status in ACTIVE_STATUSES]),
    )
)


def _slots(keys: Sequence[str], below: int | None) -> dict[str, object]:
    slots = list(keys[:KEY_WORDS]) + [""] * (KEY_WORDS - len(keys[:KEY_WORDS]))
    parameters: dict[str, object] = {f"key{n}": key for n, key in enumerate(slots)}
    return parameters | {"below": below if below is not None else 2**62, "per_key": PER_KEY}


def candidate_ids(connection: Connection, keys: Sequence[str], below: int | None) -> list[int]:
    """The newest PER_KEY tickets under each key (below ticket `below` when given)."""
    if not keys:
        return []
    return sorted(connection.scalars(_CANDIDATES, _slots(keys, below)))


def _open_tickets(
    connection: Connection, keys: Sequence[str], below: int | None, exclude: int
) -> list[tuple[int, str, str, str]]:
    """(id, subject, status, words) of the candidates still open, `exclude` left out."""
    if not keys:
        return []
    rows = connection.execute(_OPEN_CANDIDATES, _slots(keys, below) | {"exclude": exclude})
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def open_incidents(connection: Connection) -> list[tuple[int, str, str, str]]:
    """(id, title, state, distinctive words of the title) of the newest open incidents."""
    rows = connection.execute(
        select(Incident.id, Incident.title, Incident.state)
        .where(Incident.state.in_([state.value for state in OPEN_INCIDENT]))
        .order_by(Incident.id.desc())
        .limit(INCIDENTS)
    )
    return [(row[0], row[1], row[2], joined(distinctive_words(row[1], ""))) for row in rows]


def find_similar(
    connection: Connection,
    words: str,
    keys: Sequence[str],
    *,
    exclude: int,
    below: int | None = None,
    limit: int = SHOWN,
    unfiled: Mapping[int, tuple[str, str]] | None = None,
    incidents: Sequence[tuple[int, str, str, str]] | None = None,
) -> list[Found]:
    """The best matches for a ticket's words among open tickets and open incidents (read
    here unless given, as `open_incidents` reads them), and `unfiled`: {ticket: (words,
    subject)} of new tickets not in the index yet."""
    if not words:
        return []
    choices: dict[tuple[str, int], str] = {}
    details: dict[tuple[str, int], tuple[str, str]] = {}  # (subject, status)
    for number, (text_, subject) in (unfiled or {}).items():
        choices["T", number] = text_
        details["T", number] = (subject, "new")
    for number, subject, status, text_ in _open_tickets(connection, keys, below, exclude):
        choices["T", number] = text_
        details["T", number] = (subject, status)
    for number, title, state, title_words in (
        open_incidents(connection) if incidents is None else incidents
    ):
        choices["I", number] = title_words
        details["I", number] = (title, state)
    best = process.extract(words, choices, scorer=fuzz.WRatio, limit=limit, score_cutoff=MIN_SCORE)
    found = []
    for _, score, (kind, number) in best:
        subject, status = details[kind, number]
        if kind == "T":
            found.append(Found(f"T-{number}", subject, round(score), number=number, status=status))
        else:
            found.append(Found(f"INC-{number}", subject, round(score), incident_id=number,
                               status=status))  # fmt: skip
    return found


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

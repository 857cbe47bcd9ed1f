"""What a triage card shows of a ticket's matches: read for many cards at once."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.engine import Connection

from core.channel import CardMatch
from core.similar.find import OPEN_INCIDENT, linked_incidents
from core.storage.incident_models import Incident
from core.storage.models import Ticket
from core.storage.similar_models import SimilarMatch

ON_CARD = 3  # the best few; `similar <ticket>` lists more


def shown_matches(
    connection: Connection, numbers: Sequence[int]
) -> dict[int, tuple[CardMatch, ...]]:
    """{ticket: its best matches, best first} for the tickets that have any. The subjects and
    incident links are read now, so a card refreshed later shows where the matches stand."""
    if not numbers:
        return {}
    rows = connection.execute(
        select(SimilarMatch.ticket_id, SimilarMatch.other_ticket_id, SimilarMatch.incident_id,
               SimilarMatch.score)
        .where(SimilarMatch.ticket_id.in_(sorted(set(numbers))), SimilarMatch.rank < ON_CARD)
        .order_by(SimilarMatch.ticket_id, SimilarMatch.rank)
    ).all()  # fmt: skip
    if not rows:
        return {}
    others = sorted({row[1] for row in rows if row[1] is not None})
    incidents = {row[2] for row in rows if row[2] is not None}
    links = linked_incidents(connection, others)
    incidents.update(links.values())
    subjects = dict(
        connection.execute(select(Ticket.id, Ticket.subject).where(Ticket.id.in_(others))).all()
    )
    open_incidents = dict(
        connection.execute(
            select(Incident.id, Incident.title).where(
                Incident.id.in_(sorted(incidents)),
                Incident.state.in_([state.value for state in OPEN_INCIDENT]),
            )
        ).all()
    )
    own = linked_incidents(connection, sorted({row[0] for row in rows}))
    shown: dict[int, list[CardMatch]] = {}
    for ticket_id, other, incident, score in rows:
        if other is not None:
            linked = links.get(other)
            # A ticket in an incident already is offered no link (the button would be refused).
            ref = f"INC-{linked}" if linked in open_incidents and ticket_id not in own else ""
            match = CardMatch(f"T-{other}", subjects.get(other, ""), score, ref)
        elif incident in open_incidents:
            ref = "" if ticket_id in own else f"INC-{incident}"
            match = CardMatch(f"INC-{incident}", open_incidents[incident], score, ref)
        else:
            continue  # a resolved incident is no longer a match
        shown.setdefault(ticket_id, []).append(match)
    return {ticket_id: tuple(matches) for ticket_id, matches in shown.items()}

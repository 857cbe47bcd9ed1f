"""New tickets filed in the similarity index and matched, a whole chunk of them at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from core.similar.find import Found, find_similar
from core.similar.words import distinctive_words, index_keys, joined
from core.storage.models import EventKind, Ticket, TicketEvent, table_of
from core.storage.similar_models import SimilarKey, SimilarMatch, SimilarText
from core.tickets.refs import insert_ignore


@dataclass
class Matched:
    """What matching a chunk found: each ticket's matches, and the tickets' subjects."""

    found: dict[int, list[Found]] = field(default_factory=dict)
    subjects: dict[int, str] = field(default_factory=dict)


def _first_messages(connection: Connection, numbers: Sequence[int]) -> dict[int, str]:
    first = (
        select(func.min(TicketEvent.id))
        .where(TicketEvent.ticket_id.in_(numbers), TicketEvent.kind == EventKind.CUSTOMER_MESSAGE)
        .group_by(TicketEvent.ticket_id)
    )
    rows = connection.execute(
        select(TicketEvent.ticket_id, TicketEvent.text).where(TicketEvent.id.in_(first))
    )
    return {ticket_id: text for ticket_id, text in rows}


def words_of(connection: Connection, numbers: Sequence[int]) -> dict[int, list[str]]:
    """Each ticket's distinctive words, from its subject and first customer message."""
    subjects = dict(
        connection.execute(select(Ticket.id, Ticket.subject).where(Ticket.id.in_(numbers))).all()
    )
    messages = _first_messages(connection, numbers)
    return {
        number: distinctive_words(subject, messages.get(number, ""))
        for number, subject in subjects.items()
    }


def file_and_match(connection: Connection, numbers: Sequence[int]) -> Matched:
    """File each new ticket under its keys, then find each one's matches among the tickets
    opened before it (so a chunk gives what one ticket at a time would): a few statements for
    the chunk, and one bounded lookup per ticket."""
    result = Matched()
    numbers = sorted(set(numbers))
    if not numbers:
        return result
    done = set(
        connection.scalars(select(SimilarText.ticket_id).where(SimilarText.ticket_id.in_(numbers)))
    )
    words = {n: w for n, w in words_of(connection, numbers).items() if n not in done}
    if not words:
        return result
    dialect = connection.dialect.name
    connection.execute(
        insert(table_of(SimilarText)),
        [{"ticket_id": number, "words": joined(found)} for number, found in words.items()],
    )
    keys = [{"key": key, "ticket_id": number}
            for number, found in words.items() for key in index_keys(found)]  # fmt: skip
    if keys:
        connection.execute(insert_ignore(dialect)(table_of(SimilarKey)).on_conflict_do_nothing(),
                           keys)  # fmt: skip
    matches: list[dict[str, object]] = []
    for number, found in words.items():
        best = find_similar(connection, joined(found), index_keys(found), exclude=number,
                            below=number)  # fmt: skip
        if best:
            result.found[number] = best
        matches.extend(
            {"ticket_id": number, "rank": rank, "other_ticket_id": item.number,
             "incident_id": item.incident_id, "score": item.score}
            for rank, item in enumerate(best)
        )  # fmt: skip
    if matches:
        connection.execute(insert(table_of(SimilarMatch)), matches)
    result.subjects.update(
        connection.execute(select(Ticket.id, Ticket.subject).where(Ticket.id.in_(numbers))).all()
    )
    return result

"""New tickets matched (reads only, outside any write) and then filed in the similarity index
with their matches (a short write): a whole chunk of new tickets at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from core.similar.find import PER_KEY, Found, find_similar, open_incidents
from core.similar.words import distinctive_words, index_keys, joined
from core.storage.models import EventKind, Ticket, TicketEvent, table_of
from core.storage.similar_models import SimilarKey, SimilarMatch, SimilarText
from core.tickets.refs import insert_ignore


@dataclass
class Matched:
    """New tickets' words, their matches (for those that have any) and their subjects."""

    words: dict[int, list[str]] = field(default_factory=dict)
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


def match(connection: Connection, numbers: Sequence[int]) -> Matched:
    """Each new ticket's matches among the tickets opened before it, the chunk's earlier ones
    included (so a chunk gives what one ticket at a time would). Reads only: one bounded
    lookup per ticket."""
    result = Matched()
    numbers = sorted(set(numbers))
    if not numbers:
        return result
    filed = select(SimilarText.ticket_id).where(SimilarText.ticket_id.in_(numbers))
    done = set(connection.scalars(filed))
    result.words = {n: w for n, w in words_of(connection, numbers).items() if n not in done}
    result.subjects.update(
        connection.execute(select(Ticket.id, Ticket.subject).where(Ticket.id.in_(numbers))).all()
    )
    # The chunk's earlier tickets are not in the index yet: they are candidates through an
    # index of the chunk's own, bounded as the table is (the newest PER_KEY under each key), so
    # a chunk of alike tickets costs what they would one at a time, not its size squared.
    unfiled: dict[int, tuple[str, str]] = {}
    under: dict[str, list[int]] = defaultdict(list)
    incidents = open_incidents(connection)
    for number in sorted(result.words):
        words = result.words[number]
        keys = index_keys(words)
        near = {n for key in keys for n in under[key][-PER_KEY:]}
        best = find_similar(connection, joined(words), keys, exclude=number, below=number,
                            unfiled={n: unfiled[n] for n in near}, incidents=incidents)  # fmt: skip
        if best:
            result.found[number] = best
        unfiled[number] = (joined(words), result.subjects.get(number, ""))
        for key in keys:
            under[key].append(number)
    return result


def file_matched(connection: Connection, matched: Matched, numbers: Sequence[int]) -> None:
    """Store the words, index keys and matches of `numbers` (some of matched.words)."""
    words = {number: matched.words[number] for number in numbers if number in matched.words}
    if not words:
        return
    ignore = insert_ignore(connection.dialect.name)
    connection.execute(
        ignore(table_of(SimilarText)).on_conflict_do_nothing(),
        [{"ticket_id": number, "words": joined(found)} for number, found in words.items()],
    )
    keys = [{"key": key, "ticket_id": number}
            for number, found in words.items() for key in index_keys(found)]  # fmt: skip
    if keys:
        connection.execute(ignore(table_of(SimilarKey)).on_conflict_do_nothing(), keys)
    matches = [
        {"ticket_id": number, "rank": rank, "other_ticket_id": item.number,
         "incident_id": item.incident_id, "score": item.score}
        for number in words for rank, item in enumerate(matched.found.get(number, ()))
    ]  # fmt: skip
    if matches:
        connection.execute(ignore(table_of(SimilarMatch)).on_conflict_do_nothing(), matches)


def file_and_match(connection: Connection, numbers: Sequence[int]) -> Matched:
    """Both steps on one connection (the benchmark's unit of work)."""
    matched = match(connection, numbers)
    file_matched(connection, matched, list(matched.words))
    return matched

"""`search <words>`: tickets holding every word in their subject or messages, from the index.

The index is kept by the database itself (migration 0003): FTS5 tables on SQLite, GIN indexes
on `to_tsvector('simple', …)` on PostgreSQL. Customer text is hostile and agents paste it, so
the words are never spliced into a query: on SQLite each becomes one quoted FTS5 string (its
quotes doubled), on PostgreSQL they go through `plainto_tsquery`, which knows no operators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import CommandReply
from core.commands.act import Act
from core.commands.grammar import CommandError
from core.storage.models import Contact, EventKind, Ticket
from core.tickets.queries import ticket_summary

MAX_WORDS = 8
MAX_WORD_LENGTH = 64
SHOWN = 20
# A word must hold a letter or a digit: "*", "-" or '"' alone are no words to look for.
_WORDLIKE = re.compile(r"\w")

# What people wrote; the migration indexes exactly these (a test keeps the two in step).
SEARCHED_KINDS = (EventKind.CUSTOMER_MESSAGE, EventKind.AGENT_REPLY, EventKind.NOTE)
_KINDS = "(" + ", ".join(f"'{kind}'" for kind in SEARCHED_KINDS) + ")"

# The tickets that hold one word, in the subject or in a message people wrote (see the
# migration). Only these fixed fragments and bound parameters make up a query: a ticket holds
# every word when it is in each word's set. The ids come straight from the index (every row
# names an existing ticket), so `tickets` is never read in id order to sort them.
_SQLITE_WORD = (
    "SELECT id FROM (SELECT rowid AS id FROM ticket_subject_fts WHERE ticket_subject_fts MATCH"
    " :word{n} UNION SELECT ticket_id FROM ticket_events WHERE id IN ("
    "SELECT rowid FROM ticket_event_fts WHERE ticket_event_fts MATCH :word{n}))"
)
# The expressions and the `kind` condition are the indexed ones, so the GIN indexes apply.
_POSTGRESQL_WORD = (
    "SELECT id FROM (SELECT id FROM tickets WHERE to_tsvector('simple', subject)"
    " @@ plainto_tsquery('simple', :word{n}) UNION SELECT ticket_id FROM ticket_events"
    f" WHERE kind IN {_KINDS} AND to_tsvector('simple', text)"
    " @@ plainto_tsquery('simple', :word{n})) AS word{n}"
)


def search_words(phrase: str) -> list[str]:
    """The words to look for; a CommandError says why there are none or too many."""
    # Control characters separate words: a NUL would end an FTS5 string early (an error) and
    # PostgreSQL refuses it in text.
    printable = "".join(char if char.isprintable() else " " for char in phrase)
    words = [word for word in printable.split() if _WORDLIKE.search(word)]
    if not words:
        raise CommandError("search needs at least one word with letters or digits")
    if len(words) > MAX_WORDS:
        raise CommandError(f"search takes at most {MAX_WORDS} words; {len(words)} were given")
    too_long = [word for word in words if len(word) > MAX_WORD_LENGTH]
    if too_long:
        raise CommandError(f"search words are at most {MAX_WORD_LENGTH} characters long")
    return words


def fts5_string(word: str) -> str:
    """One FTS5 string: inside double quotes nothing is syntax but a doubled quote."""
    return '"' + word.replace('"', '""') + '"'


@dataclass(frozen=True)
class SearchQuery:
    """The statement and its parameters for this database."""

    statement: Any
    parameters: dict[str, object]


def search_query(dialect: str, words: list[str], limit: int) -> SearchQuery:
    """Tickets holding every word, newest first: one set per word, intersected."""
    fragment = _SQLITE_WORD if dialect == "sqlite" else _POSTGRESQL_WORD
    sets = " INTERSECT ".join(fragment.format(n=n) for n in range(len(words)))
    statement = text(f"{sets} ORDER BY id DESC LIMIT :limit")
    quote = fts5_string if dialect == "sqlite" else str
    parameters: dict[str, object] = {f"word{n}": quote(word) for n, word in enumerate(words)}
    return SearchQuery(statement, parameters | {"limit": limit})


async def matching_ids(session: AsyncSession, words: list[str], limit: int = SHOWN) -> list[int]:
    """Numbers of the matching tickets, newest first."""
    found = search_query(session.get_bind().dialect.name, words, limit)
    return list((await session.scalars(found.statement, found.parameters)).all())


async def search_summaries(
    session: AsyncSession, phrase: str, limit: int = 1000
) -> list[dict[str, Any]]:
    """Matching tickets as `tickets list --json` prints them, newest first."""
    ids = await matching_ids(session, search_words(phrase), limit)
    if not ids:
        return []
    query = select(Ticket, Contact).join(Contact, Contact.id == Ticket.requester_id)
    rows = (await session.execute(query.where(Ticket.id.in_(ids)))).all()
    by_id = {ticket.id: ticket_summary(ticket, contact) for ticket, contact in rows}
    return [by_id[number] for number in ids if number in by_id]


async def search(act: Act) -> CommandReply:
    """The verb: a short list (ref, status, subject, when opened), newest first."""
    try:
        words = search_words(act.command.text)
    except CommandError as exc:
        return CommandReply(False, str(exc))
    ids = await matching_ids(act.session, words, SHOWN + 1)
    if not ids:
        return CommandReply(True, f"no tickets match {' '.join(words)}")
    rows = (await act.session.execute(_listed(ids[:SHOWN]))).all()
    lines = [
        _line(act, number, status, subject, opened) for number, status, subject, opened in rows
    ]
    if len(ids) > SHOWN:
        lines.append(f"(the newest {SHOWN} shown; add words to narrow the search)")
    return CommandReply(True, "\n".join(lines))


def _listed(ids: list[int]) -> Any:
    columns = (Ticket.id, Ticket.status, Ticket.subject, Ticket.created_at)
    return select(*columns).where(Ticket.id.in_(ids)).order_by(Ticket.id.desc())


def _line(act: Act, number: int, status: str, subject: str, opened: datetime) -> str:
    return f"T-{number} [{status}] {subject[:80]} — opened {act.ctx.texts.when(opened, act.now)}"

"""After new tickets are opened (in the inbox processor, never on the acknowledgement path):
file and match them, refresh their cards with the matches, and make possible-incident cards."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core.config import format_duration
from core.context import Context
from core.delivery.enqueue import alert_agents, refresh_cards
from core.similar.record import Matched, file_matched, match
from core.similar.suggest import NewSuggestion, consider
from core.storage.db import Database
from core.storage.models import OutboxKind, Ticket

log = logging.getLogger(__name__)
OPEN_INCIDENT = "Open incident"


def suggestion_text(ctx: Context, made: NewSuggestion) -> str:
    """The possible-incident card's words (email agents read exactly these)."""
    window = format_duration(ctx.settings.incidents.suggest_window)
    lines = [f"Possible incident {_ref(made)}: {len(made.members)} similar tickets within "
             f"{window}"]  # fmt: skip
    lines += [f"• T-{number} {subject[:100]}" for number, subject in made.members]
    lines.append(
        f'"{OPEN_INCIDENT}" opens the incident "{made.title}" and links them all '
        f"(or write: confirm {_ref(made)})."
    )
    return "\n".join(lines)


def _ref(made: NewSuggestion) -> str:
    return f"P-{made.number}"


# New tickets written per transaction: on SQLite a write holds the one write lock that the
# acknowledgement path waits for, so each holds it for a few tickets' inserts and cards only.
WRITE_BATCH = 8


async def match_new_tickets(db: Database, ctx: Context, numbers: Sequence[int]) -> None:
    """Match the chunk's new tickets in a read, then file them a few per write. A failure
    leaves the tickets as they are (open and acknowledged already) and is logged."""
    if not numbers:
        return
    try:
        async with db.sessions() as session:
            matched = await session.run_sync(lambda sync: match(sync.connection(), numbers))
        filed = sorted(matched.words)
        for start in range(0, len(filed), WRITE_BATCH):
            batch = filed[start : start + WRITE_BATCH]
            await db.write(functools.partial(_file, ctx, matched, batch))
    except Exception:
        log.exception("similar tickets: matching %s new ticket(s) failed", len(numbers))


async def _file(ctx: Context, matched: Matched, batch: list[int], session: AsyncSession) -> None:
    """File a few matched tickets, refresh their cards, and make any possible-incident card."""
    incidents = ctx.settings.incidents

    def grouped(sync: Session) -> list[NewSuggestion]:
        connection = sync.connection()
        file_matched(connection, matched, batch)
        made = []
        for number in batch:
            if number not in matched.found:
                continue
            new = consider(
                connection, number, matched.found[number], matched.subjects, now=ctx.now(),
                window=incidents.suggest_window, after=incidents.suggest_after,
            )  # fmt: skip
            if new is not None:
                made.append(new)
        return made

    made = await session.run_sync(grouped)
    for number in batch:
        ticket = await session.get(Ticket, number) if number in matched.found else None
        if ticket is not None:
            await refresh_cards(ctx, session, ticket)
    for new in made:
        ticket = await session.get(Ticket, new.members[-1][0])
        if ticket is not None:
            await alert_agents(ctx, session, ticket, OutboxKind.POSSIBLE_INCIDENT,
                               suggestion_text(ctx, new),
                               buttons=((OPEN_INCIDENT, f"confirm {_ref(new)}"),))  # fmt: skip

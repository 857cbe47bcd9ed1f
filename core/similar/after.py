"""After new tickets are opened (in the inbox processor, never on the acknowledgement path):
file and match them, refresh their cards with the matches, and make possible-incident cards."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core.config import format_duration
from core.context import Context
from core.delivery.enqueue import alert_agents, refresh_cards
from core.similar.record import Matched, file_and_match
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


async def match_new_tickets(db: Database, ctx: Context, numbers: Sequence[int]) -> None:
    """One grouped write for the chunk's new tickets; a failure here leaves the tickets as
    they are (they are open and acknowledged already) and is logged."""
    if not numbers:
        return
    incidents = ctx.settings.incidents

    def grouped(session: Session) -> tuple[Matched, list[NewSuggestion]]:
        connection = session.connection()
        now = ctx.now()
        matched = file_and_match(connection, numbers)
        made = []
        for number in sorted(matched.found):
            new = consider(
                connection, number, matched.found[number], matched.subjects, now=now,
                window=incidents.suggest_window, after=incidents.suggest_after,
            )  # fmt: skip
            if new is not None:
                made.append(new)
        return matched, made

    async def work(session: AsyncSession) -> None:
        matched, made = await session.run_sync(grouped)
        for number in sorted(matched.found):
            ticket = await session.get(Ticket, number)
            if ticket is not None:
                await refresh_cards(ctx, session, ticket)
        for new in made:
            ticket = await session.get(Ticket, new.members[-1][0])
            if ticket is not None:
                await alert_agents(ctx, session, ticket, OutboxKind.POSSIBLE_INCIDENT,
                                   suggestion_text(ctx, new),
                                   buttons=((OPEN_INCIDENT, f"confirm {_ref(new)}"),))  # fmt: skip

    try:
        await db.write(work)
    except Exception:
        log.exception("similar tickets: matching %s new ticket(s) failed", len(numbers))

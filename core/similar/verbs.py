"""The verbs `similar <ticket>` (what looks like it) and `confirm <P-n>` (a possible
incident opened, its tickets linked: what the card's "Open incident" button runs)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.channel import CommandReply
from core.commands import incident_verbs
from core.commands.act import Act, done
from core.commands.grammar import Command
from core.similar.find import Found, find_similar, linked_incidents
from core.similar.record import words_of
from core.similar.words import index_keys, joined
from core.storage.incident_models import IncidentLink
from core.storage.models import Ticket, is_active
from core.storage.similar_models import SimilarText, Suggestion, SuggestionMember

LISTED = 10


def _matches_of(ticket_id: int, session: Session) -> tuple[list[Found], dict[int, int]]:
    connection = session.connection()
    words = connection.scalar(select(SimilarText.words).where(SimilarText.ticket_id == ticket_id))
    if words is None:  # a ticket from before similarity was kept: read it now
        words = joined(words_of(connection, [ticket_id]).get(ticket_id, []))
    keys = index_keys(words.split())
    found = find_similar(connection, words, keys, exclude=ticket_id, limit=LISTED)
    numbers = [item.number for item in found if item.number is not None]
    return found, linked_incidents(connection, numbers)


async def similar(act: Act, ticket: Ticket) -> CommandReply:
    """The open tickets and incidents that look like this one, best first, with a score."""
    found, links = await act.session.run_sync(lambda sync: _matches_of(ticket.id, sync))
    if not found:
        return done(ticket, f"no open ticket or incident looks like {ticket.ref}")
    lines = [f"Like {ticket.ref} ({ticket.subject[:80]}):"]
    for item in found:
        linked = links.get(item.number) if item.number is not None else None
        where = f", in INC-{linked}" if linked is not None else ""
        lines.append(f"{item.ref} [{item.status}{where}] {item.subject[:80]} — {item.score}%")
    return done(ticket, "\n".join(lines))


async def _open_members(act: Act, suggestion_id: int) -> list[Ticket]:
    """The suggestion's tickets still open and in no incident, locked, oldest first."""
    numbers = await act.session.scalars(
        select(SuggestionMember.ticket_id)
        .where(SuggestionMember.suggestion_id == suggestion_id)
        .order_by(SuggestionMember.ticket_id)
    )
    members = []
    for number in numbers.all():
        ticket = await act.session.get(Ticket, number, with_for_update=True)
        if ticket is None or not is_active(ticket.status):
            continue
        if await act.session.get(IncidentLink, number) is None:
            members.append(ticket)
    return members


async def confirm(act: Act) -> CommandReply:
    """Open the incident a possible incident suggested and link its tickets, at most once."""
    number = int(act.command.text)
    suggestion = await act.session.get(Suggestion, number, with_for_update=True)
    if suggestion is None:
        return CommandReply(False, f"there is no possible incident P-{number}")
    if suggestion.incident_id is not None:
        by = f" by {suggestion.opened_by}" if suggestion.opened_by else ""
        return CommandReply(False, f"P-{number} was already opened as INC-{suggestion.incident_id}"
                            f"{by}; nothing changed", f"INC-{suggestion.incident_id}")  # fmt: skip
    members = await _open_members(act, number)
    if not members:
        return CommandReply(
            False, f"none of P-{number}'s tickets is still open and unlinked; nothing opened"
        )
    opening = replace(act, command=Command("incident", text=suggestion.title))
    opened = await incident_verbs.open_incident(opening)
    incident = int(opened.ticket_ref.removeprefix("INC-"))
    for ticket in members:
        linking = replace(act, command=Command("link", ticket.id, incident=incident))
        await incident_verbs.link(linking, ticket)
    suggestion.incident_id, suggestion.opened_by = incident, act.agent
    refs = ", ".join(ticket.ref for ticket in members)
    return CommandReply(
        True, f"{opened.ticket_ref} opened from P-{number}: {suggestion.title}; linked {refs}",
        opened.ticket_ref,
    )  # fmt: skip

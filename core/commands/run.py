"""Executing agent commands (one grammar for Slack, Discord and the CLI): the table of verbs."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import CommandReply
from core.commands import customer, incident_verbs, log_verb, same_verb, saved, search, team
from core.commands.act import Act, DeskVerb, TicketVerb
from core.commands.customer import record_public_reply
from core.commands.grammar import CommandError, parse
from core.context import Context
from core.similar import verbs as similar_verbs
from core.storage.models import Ticket

__all__ = ["DESK_VERBS", "TICKET_VERBS", "record_public_reply", "run_words"]

# One row per verb; a new verb is a handler, a row here and its usage in the grammar.
TICKET_VERBS: Mapping[str, TicketVerb] = {
    "show": team.show,
    "note": team.note,
    "reply": saved.reply,  # a written reply, or `@name`: a saved one
    "eta": customer.eta,
    "wait": customer.wait,
    "resolve": customer.resolve,
    "close": customer.close,
    "reopen": customer.reopen,
    "take": team.take,
    "assign": team.assign,
    "priority": team.priority,
    "link": incident_verbs.link,
    "unlink": incident_verbs.unlink,
    "same": same_verb.same,  # the two requesters are one person: the cap counts them together
    "similar": similar_verbs.similar,
}
DESK_VERBS: Mapping[str, DeskVerb] = {
    "list": team.list_tickets,
    "stats": team.stats,
    "search": search.search,
    "replies": saved.replies,
    "incident": incident_verbs.open_incident,
    "log": log_verb.log_call,  # a call solved on the spot: opened resolved, nobody messaged
    "confirm": similar_verbs.confirm,  # a possible incident opened, its tickets linked
}


async def run_words(ctx: Context, session: AsyncSession, agent: str, text: str) -> CommandReply:
    """Parse and execute; on any error nothing has changed (the caller rolls back on not ok)."""
    now = ctx.now()
    try:
        calendar = ctx.calendar
        command = parse(text, now, calendar.tz, opens=calendar.open, closes=calendar.close)
    except CommandError as exc:
        return CommandReply(False, str(exc))
    act = Act(ctx, session, agent, command, now)
    if command.verb in DESK_VERBS:
        return await DESK_VERBS[command.verb](act)
    if command.incident is not None and command.ticket is None:
        return await incident_verbs.run_incident_verb(act, command.incident)
    handler = TICKET_VERBS.get(command.verb)
    if handler is None or command.ticket is None:
        return CommandReply(False, f'unknown command "{command.verb}"')
    ticket = await session.get(Ticket, command.ticket, with_for_update=True)
    if ticket is None:
        return CommandReply(False, f"there is no ticket T-{command.ticket}")
    try:
        return await handler(act, ticket)
    except CommandError as exc:
        return CommandReply(False, str(exc), ticket.ref)

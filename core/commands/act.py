"""One agent command being carried out, and the small rules every verb's handler shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import CommandReply
from core.commands.grammar import Command, CommandError
from core.context import Context
from core.storage.models import Status, Ticket, is_active


@dataclass(frozen=True)
class Act:
    """Who runs which command, when, inside which transaction."""

    ctx: Context
    session: AsyncSession
    agent: str
    command: Command
    now: datetime


# A verb about one ticket gets it locked for update; a verb about the desk gets none.
TicketVerb = Callable[[Act, Ticket], Awaitable[CommandReply]]
DeskVerb = Callable[[Act], Awaitable[CommandReply]]


def done(ticket: Ticket, text: str) -> CommandReply:
    return CommandReply(True, text, ticket.ref)


def require_active(ticket: Ticket, verb: str) -> None:
    if not is_active(ticket.status):
        raise CommandError(f"{ticket.ref} is {ticket.status}; reopen it before `{verb}`")


def mark_worked(ticket: Ticket, agent: str, now: datetime, *, keep_status: bool = False) -> None:
    """An agent acted: the ticket is open (a reply also ends waiting) and has an owner."""
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    if ticket.status == Status.NEW:
        ticket.status = Status.OPEN
    elif ticket.status == Status.WAITING and not keep_status:
        ticket.status = Status.OPEN
        ticket.waiting_on = ""
    if not ticket.assignee:
        ticket.assignee = agent

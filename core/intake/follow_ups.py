"""A customer's follow-up told to the agents, by the one road for agent messages."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Context
from core.delivery.enqueue import alert_agents
from core.pages.form import CHANNEL as PAGE_CHANNEL
from core.storage.models import OutboxKind, Ticket, TicketEvent

# Characters of the customer's words the notice carries. Chat threads read best short, and a
# pasted log must not turn into ten Discord messages; the whole text is on the ticket.
FOLLOW_UP_EXCERPT = 1500
# Where a message came from, as agents say it, when the channel's name is not that.
_WHERE = {PAGE_CHANNEL: "the ticket page"}


def follow_up_text(
    ctx: Context, ticket: Ticket, said: TicketEvent, *, waiting_on: str, reopened: bool = False
) -> str:
    """The notice: who wrote, on which channel and when (in the desk's timezone), an excerpt,
    and, when the ticket was waiting, that the customer answered while it was (or, when the
    message reopened it, that)."""
    words = said.text.strip()
    more = max(len(words) - FOLLOW_UP_EXCERPT, 0)
    channel = said.channel or ticket.reply_channel
    return ctx.texts.render(
        "customer_follow_up", ref=ticket.ref, who=said.author or "the customer",
        channel=_WHERE.get(channel, channel), at=said.at, text=words[:FOLLOW_UP_EXCERPT],
        more=more, waiting_on=waiting_on, reopened=reopened,
        assignee=ctx.texts.person(ticket.assignee) if ticket.assignee else "",
    )  # fmt: skip


async def tell_agents(
    ctx: Context,
    session: AsyncSession,
    ticket: Ticket,
    said: TicketEvent,
    *,
    waiting_on: str,
    reopened: bool = False,
) -> None:
    """Queue the notice of the customer message `said` for every target of `alert_agents`
    (in each triage card's thread), in the caller's transaction. `waiting_on` is what the
    ticket waited on when the message came, "" when it was not waiting; `reopened` says the
    message reopened a resolved ticket."""
    text = follow_up_text(ctx, ticket, said, waiting_on=waiting_on, reopened=reopened)
    await alert_agents(ctx, session, ticket, OutboxKind.CUSTOMER_WROTE, text)

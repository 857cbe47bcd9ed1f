"""Status changes shared by the inbox and the agent commands (one direction: both call here)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Context
from core.delivery.enqueue import refresh_cards
from core.storage.models import EventKind, Status, Ticket
from core.tickets.timeline import tell_customer


async def reopen(ctx: Context, session: AsyncSession, ticket: Ticket, *, author: str) -> None:
    """A resolved or closed ticket is open again; the customer is told, the cards updated."""
    ticket.status = Status.OPEN
    ticket.resolved_at = None
    ticket.closed_at = None
    await tell_customer(
        ctx, session, ticket, EventKind.REOPENED, "reopened", author=author, automatic=True
    )
    await refresh_cards(ctx, session, ticket)

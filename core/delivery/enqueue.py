"""Queuing messages, as the other stages call it: to the customer, triage cards, agent alerts."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Context
from core.delivery.cards import (
    LastWord,
    card_for,
    card_title,
    make_card,
    refresh_cards,
    requester_name,
)
from core.delivery.rows import (
    agents_row,
    decode_message,
    encode_message,
    enqueue,
    outbox_values,
    thread_refs,
)
from core.storage.models import OutboxRow, Ticket

__all__ = [
    "LastWord",
    "agents_row",
    "alert_agents",
    "card_for",
    "card_title",
    "decode_message",
    "encode_message",
    "enqueue",
    "make_card",
    "outbox_values",
    "refresh_cards",
    "requester_name",
    "thread_refs",
]


async def alert_agents(
    ctx: Context,
    session: AsyncSession,
    ticket: Ticket,
    kind: str,
    text: str,
    *,
    buttons: tuple[tuple[str, str], ...] = (),
) -> list[OutboxRow]:
    """An internal message to every triage channel (in the card's thread when there is one;
    a possible-incident card stands alone), and to the mailboxes of the agents it concerns:
    the ticket's holder, or all when nobody holds it. `buttons` run grammar words when
    pressed. The rows are added together and flushed once (their ids known on return)."""
    rows = [
        agents_row(ctx, ticket, kind=kind, text=text, target=target, buttons=buttons)
        for target in ctx.triage_targets(ticket.assignee)
    ]
    if rows:
        session.add_all(rows)
        await session.flush()
    return rows

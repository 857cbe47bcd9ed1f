"""A rating button pressed in Slack or Discord: the one answer, from the ticket's requester."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Actor, CommandReply
from core.commands.grammar import CommandError, parse_ticket
from core.context import Context
from core.csat.rating import Rating
from core.csat.record import RatingError, record_rating
from core.delivery.enqueue import decode_message, encode_message
from core.storage.models import Contact, OutboxRow, Ticket, TicketEvent

BUTTON_CHANNELS = frozenset({"slack", "discord"})


def buttons_on(message: str, channel: str, scale: int) -> str:
    """An outbox row's message (JSON) with the rating buttons, on the channels that show them
    (email asks in words). Still the one message: nothing more counts toward the cap."""
    if channel not in BUTTON_CHANNELS:
        return message
    return encode_message(replace(decode_message(message), rating_scale=scale))


async def offer_buttons(session: AsyncSession, event: TicketEvent, scale: int) -> None:
    """The resolution message just queued for `event` carries the rating buttons."""
    row = await session.scalar(select(OutboxRow).where(OutboxRow.event_id == event.id))
    if row is not None:
        row.message = buttons_on(row.message, row.channel, scale)


async def rate_from_button(
    ctx: Context, session: AsyncSession, actor: Actor, ref: str, score: int
) -> CommandReply:
    """Record the rating when `actor` is the ticket's requester and it can be taken; otherwise
    a reply saying why, and nothing written."""
    try:
        number = parse_ticket(ref)
    except CommandError as exc:
        return CommandReply(False, str(exc))
    ticket = await session.get(Ticket, number, with_for_update=True)
    if ticket is None:
        return CommandReply(False, f"there is no ticket T-{number}")
    contact = await session.get(Contact, ticket.requester_id)
    if contact is None or (contact.channel, contact.address) != (actor.channel, actor.user_id):
        return CommandReply(False, f"only the person who asked for {ticket.ref} can rate it")
    try:
        await record_rating(ctx, session, ticket, Rating(score),
                            author=contact.name or actor.name or actor.user_id,
                            channel=actor.channel)  # fmt: skip
    except RatingError as exc:
        return CommandReply(False, str(exc), ticket.ref)
    scale = ctx.settings.csat.scale
    return CommandReply(True, f"Thank you: {ticket.ref} rated {score} out of {scale}.", ticket.ref)

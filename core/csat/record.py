"""Asking the satisfaction question once per ticket, and recording the one answer."""

from __future__ import annotations

import re
from enum import StrEnum

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Context
from core.csat.rating import COMMENT_MAX, Rating
from core.delivery.enqueue import alert_agents, refresh_cards, requester_name
from core.storage.models import Contact, EventKind, Status, Ticket, TicketEvent, Visibility
from core.tickets.timeline import add_event

LOW_SCORE = 2  # a rating of this or less alerts the agents in the card's thread
# Addresses no person reads: asking them anything only draws another automatic reply.
_ROBOT = re.compile(
    r"^(?:no-?reply|do-?not-?reply|mailer-daemon|postmaster|bounces?|auto-?reply|autoresponder)"
    r"(?:[+._-][^@]{0,64})?@",
    re.IGNORECASE,
)


# A ticket with one of these is not asked: asked already, or a call logged on the spot.
NOT_AGAIN = (EventKind.CSAT_ASKED, EventKind.LOGGED)


class RatingError(ValueError):
    """A rating that cannot be taken: the message says why; nothing was changed."""


async def _has_event(session: AsyncSession, ticket: Ticket, kind: str) -> bool:
    found = await session.scalar(
        select(exists().where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == kind))
    )
    return bool(found)


def is_robot_address(address: str) -> bool:
    """An address no person reads (no-reply, mailer-daemon…): never asked anything."""
    return _ROBOT.match(address) is not None


async def is_auto_responder(session: AsyncSession, ticket: Ticket) -> bool:
    """The requester is a machine: a no-reply address, or one that has answered us
    automatically on this ticket (an out-of-office would answer the question too)."""
    contact = await session.get(Contact, ticket.requester_id)
    if contact is not None and is_robot_address(contact.address):
        return True
    return await _has_event(session, ticket, EventKind.AUTO_REPLY)


async def should_ask(ctx: Context, session: AsyncSession, ticket: Ticket) -> bool:
    """Whether this resolution asks the question: enabled, never asked on this ticket, not a
    call logged on the spot, not an auto-responder."""
    if not ctx.settings.csat.enabled:
        return False
    for kind in NOT_AGAIN:
        if await _has_event(session, ticket, kind):
            return False
    return not await is_auto_responder(session, ticket)


def asked_text(scale: int) -> str:
    return f"Asked for a rating from 1 to {scale}."


async def mark_asked(ctx: Context, session: AsyncSession, ticket: Ticket) -> None:
    """On the record (internal): the resolution message asked the question."""
    await add_event(session, ticket, EventKind.CSAT_ASKED, asked_text(ctx.settings.csat.scale),
                    ctx.now(), visibility=Visibility.INTERNAL, author="tidings")  # fmt: skip


class RatingState(StrEnum):
    """Where a resolved ticket's satisfaction question stands."""

    NONE = "none"  # not resolved, or never asked
    AWAITED = "awaited"  # asked, no answer yet: a reply that is only a rating is the answer
    ANSWERED = "answered"  # one rating per ticket: later ones are only messages


async def rating_state(session: AsyncSession, ticket: Ticket) -> RatingState:
    if ticket.status != Status.RESOLVED:
        return RatingState.NONE
    if await _has_event(session, ticket, EventKind.CSAT):
        return RatingState.ANSWERED
    if await _has_event(session, ticket, EventKind.CSAT_ASKED):
        return RatingState.AWAITED
    return RatingState.NONE


async def check_rating(ctx: Context, session: AsyncSession, ticket: Ticket, score: int) -> None:
    """Raise RatingError naming why `score` cannot be taken for `ticket` now."""
    scale = ctx.settings.csat.scale
    if not 1 <= score <= scale:
        raise RatingError(f"a rating is a number from 1 to {scale}; {score} is not one")
    if ticket.status != Status.RESOLVED:
        raise RatingError(f"{ticket.ref} is {ticket.status}; only a resolved ticket is rated")
    if await _has_event(session, ticket, EventKind.CSAT):
        raise RatingError(f"{ticket.ref} is already rated; one rating per ticket")
    if not await _has_event(session, ticket, EventKind.CSAT_ASKED):
        raise RatingError(f"{ticket.ref} was not asked for a rating")


async def record_rating(
    ctx: Context,
    session: AsyncSession,
    ticket: Ticket,
    rating: Rating,
    *,
    author: str,
    channel: str = "",
    external_id: str = "",
) -> TicketEvent:
    """The customer's answer as a `csat` event; a low one alerts the agents. The ticket stays
    resolved. Raises RatingError (before writing anything) when it cannot be taken."""
    await check_rating(ctx, session, ticket, rating.score)
    comment = rating.comment[:COMMENT_MAX]
    taken = Rating(rating.score, comment)
    event = await add_event(session, ticket, EventKind.CSAT, taken.event_text(), ctx.now(),
                            author=author, channel=channel, external_id=external_id)  # fmt: skip
    if rating.score <= LOW_SCORE:
        scale = ctx.settings.csat.scale
        text = ctx.texts.render(
            "csat_low", ref=ticket.ref, subject=ticket.subject, score=rating.score, scale=scale,
            comment=comment, who=await requester_name(session, ticket),
        )  # fmt: skip
        await alert_agents(ctx, session, ticket, "csat_low", text)
    await refresh_cards(ctx, session, ticket)
    return event

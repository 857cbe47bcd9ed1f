"""A rating from the customer's ticket page: the page token named the ticket, so it is the
requester's answer, recorded like a button press or a rating reply (core.csat.record)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import CommandReply
from core.config import Settings
from core.context import Context
from core.csat.rating import COMMENT_MAX, Rating
from core.csat.record import RatingError, RatingState, rating_state, record_rating
from core.pages.form import CHANNEL
from core.pages.tokens import page_links
from core.storage.models import Contact, EventKind, Ticket, TicketEvent

RATING_ANCHOR = "rate"  # the rating form's id on the page: the resolution message links to it


def rating_url(settings: Settings, ticket_id: int) -> str:
    """The ticket page's rating form, for the resolution message ("" when pages have no
    public address). The message's page link stores the token's hash, so this link opens."""
    links = page_links(settings)
    return f"{links.url(ticket_id)}#{RATING_ANCHOR}" if links is not None else ""


class PageRatingError(ValueError):
    """What the customer sent cannot be a rating; the message says why to them."""


def read_page_rating(rating: str, comment: str, scale: int) -> Rating:
    """The form's two fields as a Rating, or PageRatingError naming what is wrong."""
    rating = rating.strip()
    if not rating:
        raise PageRatingError(f"choose a rating from 1 to {scale}")
    if not rating.isascii() or not rating.isdigit() or len(rating) > 3:
        raise PageRatingError(f"a rating is a number from 1 to {scale}")
    if not 1 <= int(rating) <= scale:
        raise PageRatingError(f"a rating is a number from 1 to {scale}; {int(rating)} is not one")
    words = " ".join(comment.split())
    if len(words) > COMMENT_MAX:
        raise PageRatingError(f"the comment is too long: at most {COMMENT_MAX} characters")
    return Rating(int(rating), words)


async def rating_offer(ctx: Context, session: AsyncSession, ticket_id: int) -> dict[str, Any]:
    """What the page shows about rating: `state` "awaited" (the form), "answered" (with the
    `score` given) or "none", and the `scale`; an empty dict when the desk does not ask."""
    csat = ctx.settings.csat
    ticket = await session.get(Ticket, ticket_id)
    if not csat.enabled or ticket is None:
        return {}
    state = await rating_state(session, ticket)
    offer: dict[str, Any] = {"state": state.value, "scale": csat.scale, "score": None}
    if state is RatingState.ANSWERED:
        text = await session.scalar(
            select(TicketEvent.text)
            .where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == EventKind.CSAT)
            .order_by(TicketEvent.id)
            .limit(1)
        )
        score = (text or "").split(" ", 1)[0]
        offer["score"] = int(score) if score.isdigit() else None
    return offer


async def rate_on_page(
    ctx: Context, session: AsyncSession, ticket_id: int, rating: Rating
) -> CommandReply:
    """Record the requester's rating; a refusal says why and writes nothing."""
    if not ctx.settings.csat.enabled:
        return CommandReply(False, "this desk does not ask for ratings")
    ticket = await session.get(Ticket, ticket_id, with_for_update=True)
    if ticket is None:
        return CommandReply(False, "there is no such ticket")
    contact = await session.get(Contact, ticket.requester_id)
    author = (contact.name or contact.address) if contact is not None else "customer"
    try:
        await record_rating(ctx, session, ticket, rating, author=author, channel=CHANNEL)
    except RatingError as exc:
        return CommandReply(False, str(exc), ticket.ref)
    scale = ctx.settings.csat.scale
    return CommandReply(True, f"Thank you: {ticket.ref} rated {rating.score} out of {scale}.",
                        ticket.ref)  # fmt: skip

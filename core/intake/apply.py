"""What happens when a decoded inbound message reaches the core: open, join, reopen, or record."""

from __future__ import annotations

import logging
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.agents import authorise
from core.channel import AgentMessage, InboundKind, InboundMessage
from core.commands.files import note_with_files, reply_with_files
from core.commands.run import record_public_reply, run_words
from core.context import Context
from core.csat.rating import read_rating
from core.csat.record import RatingState, rating_state, record_rating
from core.delivery.enqueue import alert_agents, refresh_cards
from core.intake.agent_mail import apply_agent_mail
from core.intake.follow_ups import tell_agents
from core.intake.opening import NewTicket, author_of, body_of, open_tickets
from core.intake.outcome import Outcome
from core.intake.thanks import is_thanks
from core.storage.models import (
    Contact,
    EventKind,
    OutboxRow,
    OutboxStatus,
    Status,
    Ticket,
    TicketEvent,
    TicketRef,
    Visibility,
)
from core.tickets.lifecycle import reopen
from core.tickets.refs import register_keys, ticket_by_keys
from core.tickets.timeline import add_event, keep_files

log = logging.getLogger(__name__)


class Action(StrEnum):
    """What a person's message does to the desk: the one open-or-join decision."""

    OPEN = "open"  # a new conversation: a new ticket
    FOLLOW_UP = "follow_up"  # the conversation's ticket is closed, or past its reopen window
    REOPEN = "reopen"  # resolved within the reopen window
    THANKS = "thanks"  # only a thank-you on a resolved ticket: on the record, not reopened
    RATING = "rating"  # only a rating, answering the satisfaction question: not reopened
    RATED_AGAIN = "rated_again"  # a further rating: recorded as a message, replaces nothing
    JOIN = "join"  # an event on the active ticket
    IGNORE = "ignore"  # joins only, and names no ticket (e.g. a chat thread not ours)


def open_or_join(
    ctx: Context,
    message: InboundMessage,
    ticket: Ticket | None,
    *,
    rating: RatingState = RatingState.NONE,
) -> Action:
    """Decide for a person's message, given the ticket its conversation leads to (if any)
    and where that ticket's satisfaction question stands.

    The inbox processor asks this too, for the rows whose conversation it knows is new, and
    opens those together; every other row comes here through `apply_inbound`."""
    if ticket is None:
        return Action.IGNORE if message.join_only else Action.OPEN
    if ticket.status == Status.CLOSED:
        return Action.FOLLOW_UP
    if ticket.status == Status.RESOLVED:
        window = ctx.settings.reminders.reopen_window
        if ticket.resolved_at is not None and ctx.now() - ticket.resolved_at > window:
            return Action.FOLLOW_UP
        if rating is not RatingState.NONE and read_rating(message.text, ctx.settings.csat.scale):
            return Action.RATING if rating is RatingState.AWAITED else Action.RATED_AGAIN
        # Conservative: only a short message made of thanks and "it works" words is one.
        return Action.THANKS if is_thanks(message.text) else Action.REOPEN
    return Action.JOIN


async def find_ticket(session: AsyncSession, message: InboundMessage) -> Ticket | None:
    """The ticket a message's conversation leads to.

    Keys only our side or the platform can produce are trusted from anyone: our own outbound
    message ids (unguessable tokens) and a chat thread (Slack, Discord: a colleague answering
    in the customer's thread is part of that conversation, and the platform decides who can
    post there). Keys anyone can type are trusted only from the ticket's requester: a quoted
    `[T-42]`, and the customer's own Message-IDs in an email's In-Reply-To or References,
    which every recipient of that mail can copy. A Message-ID is also trusted from someone
    who writes to the requester too (a colleague's reply-all keeps them in To or Cc): the
    requester reads what was written, and our replies still go only to the requester. A
    stranger's message naming them otherwise opens a ticket of its own."""
    ticket = await ticket_by_keys(session, message.channel, message.thread_keys)
    if ticket is None and message.ticket_hint is not None:
        hinted = await session.get(Ticket, message.ticket_hint, with_for_update=True)
        if hinted is not None and await _from_requester(session, hinted, message):
            ticket = hinted
    if ticket is None:
        related = await ticket_by_keys(session, message.channel, message.related_keys)
        if related is not None and await _from_requester(session, related, message, cc=True):
            ticket = related
    return ticket


async def _from_requester(
    session: AsyncSession, ticket: Ticket, message: InboundMessage, *, cc: bool = False
) -> bool:
    """Whether the requester wrote `message` (or, with `cc`, is among those it was sent to)."""
    channel, address = await contact_for_ticket(session, ticket)
    if channel != message.sender.channel:
        return False
    return address == message.sender.address.lower() or (cc and address in message.addressees)


async def contact_for_ticket(session: AsyncSession, ticket: Ticket) -> tuple[str, str]:
    contact = await session.get(Contact, ticket.requester_id)
    return (contact.channel, contact.address.lower()) if contact else ("", "")


async def _record_message(
    ctx: Context, session: AsyncSession, ticket: Ticket, message: InboundMessage
) -> TicketEvent:
    now = ctx.now()
    if message.for_a_person:
        await add_event(session, ticket, EventKind.NOTE, message.for_a_person, now,
                        visibility=Visibility.INTERNAL, author="tidings")  # fmt: skip
    event = await add_event(
        session, ticket, EventKind.CUSTOMER_MESSAGE, body_of(ctx, message), now,
        author=author_of(message),
        channel=message.channel, external_id=message.external_id,
    )  # fmt: skip
    keep_files(session, ticket.id, event.id, message.attachments)
    keys = (message.external_id, *message.thread_keys)
    await register_keys(session, message.channel, keys, ticket.id)
    return event


async def open_ticket(
    ctx: Context, session: AsyncSession, message: InboundMessage, linked: Ticket | None = None
) -> Ticket:
    [ticket_id] = await open_tickets(ctx, session, [NewTicket(message, linked)])
    ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None
    return ticket


async def apply_inbound(ctx: Context, session: AsyncSession, message: InboundMessage) -> Outcome:
    """Turn one customer message into a new ticket or an event on an existing one."""
    if message.kind is InboundKind.BOUNCE:
        return await _apply_bounce(ctx, session, message)
    if message.kind is not InboundKind.MESSAGE:
        return await _apply_automatic(ctx, session, message)
    already = await session.scalar(
        select(TicketRef.ticket_id).where(
            TicketRef.channel == message.channel, TicketRef.key == message.external_id
        )
    )
    if already is not None:
        return Outcome(f"duplicate of a message already on T-{already}", already)
    ticket = await find_ticket(session, message)
    state = RatingState.NONE if ticket is None else await rating_state(session, ticket)
    action = open_or_join(ctx, message, ticket, rating=state)
    if action is Action.IGNORE:
        return Outcome("ignored: not part of any ticket's conversation")
    if action is Action.OPEN:
        ticket = await open_ticket(ctx, session, message)
        return Outcome(f"opened {ticket.ref}", ticket.id)
    assert ticket is not None  # every other action names the ticket found
    if action is Action.RATING:
        return await _apply_rating(ctx, session, ticket, message)
    if action is Action.FOLLOW_UP:
        new = await open_ticket(ctx, session, message, linked=ticket)
        if ticket.status == Status.CLOSED:
            return Outcome(f"opened {new.ref} (follows closed {ticket.ref})", new.id)
        return Outcome(f"opened {new.ref} (after {ticket.ref}'s reopen window)", new.id)
    return await _follow_up(ctx, session, ticket, message, action)


# What a message that joins a ticket did, by action (the outcome recorded on its inbox row).
_JOINED = {
    Action.THANKS: "thank-you recorded on {ref} (stays {status})",
    Action.RATED_AGAIN: "{ref} is already rated; recorded as a message",
    Action.JOIN: "added to {ref}",
}


async def _follow_up(
    ctx: Context, session: AsyncSession, ticket: Ticket, message: InboundMessage, action: Action
) -> Outcome:
    """A message on the ticket's conversation: on the timeline and the card, and told to the
    agents in the card's thread. The status and the assignee stay (a reopen aside): an agent
    decides what a customer's answer on a waiting ticket changes."""
    waiting_on = ticket.waiting_on if ticket.status == Status.WAITING else ""
    said = await _record_message(ctx, session, ticket, message)
    if action is Action.REOPEN:
        await reopen(ctx, session, ticket, author=message.sender.name or "customer")
        outcome = Outcome(f"reopened {ticket.ref}", ticket.id)
    else:
        await refresh_cards(ctx, session, ticket)
        outcome = Outcome(_JOINED[action].format(ref=ticket.ref, status=ticket.status), ticket.id)
    reopened = action is Action.REOPEN
    await tell_agents(ctx, session, ticket, said, waiting_on=waiting_on, reopened=reopened)
    return outcome


async def _apply_rating(
    ctx: Context, session: AsyncSession, ticket: Ticket, message: InboundMessage
) -> Outcome:
    """The answer to the satisfaction question: a `csat` event; the ticket stays resolved."""
    rating = read_rating(message.text, ctx.settings.csat.scale)
    assert rating is not None  # open_or_join read it before choosing RATING
    await record_rating(ctx, session, ticket, rating, author=author_of(message),
                        channel=message.channel, external_id=message.external_id)  # fmt: skip
    await register_keys(session, message.channel, (message.external_id, *message.thread_keys),
                        ticket.id)  # fmt: skip
    return Outcome(f"rating {rating.score} recorded on {ticket.ref}", ticket.id)


async def _apply_automatic(ctx: Context, session: AsyncSession, message: InboundMessage) -> Outcome:
    """An auto-reply to one of our messages: on the record for agents, never answered."""
    ticket = await ticket_by_keys(session, message.channel, message.thread_keys)
    if ticket is None:
        return Outcome(f"ignored: {message.kind.value} ({message.note or 'no ticket'})")
    await add_event(
        session, ticket, EventKind.AUTO_REPLY, message.text[:2000], ctx.now(),
        visibility=Visibility.INTERNAL, author=message.sender.address, channel=message.channel,
    )  # fmt: skip
    return Outcome(f"recorded {message.kind.value} on {ticket.ref}", ticket.id)


async def _apply_bounce(ctx: Context, session: AsyncSession, message: InboundMessage) -> Outcome:
    """A delivery report: when it names one of our messages, that delivery failed."""
    ticket = await ticket_by_keys(session, message.channel, message.bounced_keys)
    if ticket is None:
        return Outcome(f"ignored: bounce naming none of our messages ({message.note})")
    now = ctx.now()
    keys = [key for key in message.bounced_keys if key]
    failed_rows = (
        await session.scalars(
            select(OutboxRow).where(
                OutboxRow.ticket_id == ticket.id,
                OutboxRow.token.in_(keys) | OutboxRow.external_id.in_(keys),
            )
        )
    ).all()
    for row in failed_rows:
        row.status = OutboxStatus.FAILED.value
        row.last_error = f"bounced: {message.note or message.subject}"[:2000]
    reason = message.note or "the receiving mail server returned it"
    await add_event(
        session, ticket, EventKind.DELIVERY_FAILED,
        f"Bounce from {message.sender.address}: {reason}", now, visibility=Visibility.INTERNAL,
        author="tidings", channel=message.channel,
    )  # fmt: skip
    excerpt = ticket.subject
    await alert_agents(
        ctx, session, ticket, "delivery_failed",
        ctx.texts.render("delivery_failed", ref=ticket.ref, channel=message.channel,
                         reason=reason, excerpt=excerpt),
    )  # fmt: skip
    return Outcome(f"bounce recorded on {ticket.ref}", ticket.id)


async def apply_agent_message(
    ctx: Context, session: AsyncSession, message: AgentMessage
) -> Outcome:
    """An agent wrote in a triage card's thread: reply to the customer, or a note. (Or mailed
    Tidings: checked against its reply address first, in core/intake/agent_mail.py.)"""
    if message.reply_token is not None:
        return await apply_agent_mail(ctx, session, message)
    ticket = await ticket_by_keys(session, message.channel, message.thread_keys)
    if ticket is None:
        return Outcome("ignored: agent message outside any ticket thread")
    actor = message.actor
    authorised = authorise(ctx.settings, actor.channel, actor.user_id, actor.roles)
    if authorised is None:
        return Outcome(f"ignored: {actor.user_id} is not an agent")
    agent = authorised.name
    text = message.text.strip()
    if message.already_public and text:
        said = await record_public_reply(
            ctx, session, ticket, agent, text, message.channel, message.external_id
        )
        return Outcome(f"agent {agent}: {said.text}", ticket.id)
    verb = "reply"
    if text.lower().startswith("note:"):
        verb, text = "note", text[5:].strip()
    if message.attachments and not message.already_public:
        with_files = note_with_files if verb == "note" else reply_with_files
        said = await with_files(ctx, session, ticket, agent, text, message.attachments)
        return Outcome(f"agent {agent}: {said.text[:200]}", ticket.id)
    if not text:
        return Outcome("ignored: empty agent message")
    reply = await run_words(ctx, session, agent, f"{verb} {ticket.ref} {text}")
    return Outcome(f"agent {agent}: {reply.text[:200]}", ticket.id)

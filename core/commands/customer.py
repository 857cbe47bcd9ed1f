"""The verbs the customer hears about: reply, eta, wait, resolve, reopen; and close."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Attachment, CommandReply
from core.commands.act import Act, done, mark_worked, require_active
from core.commands.grammar import CommandError
from core.context import Context
from core.csat.page import rating_url
from core.csat.press import offer_buttons
from core.csat.record import mark_asked, should_ask
from core.delivery.enqueue import refresh_cards
from core.delivery.rows import has_unsent_notice
from core.storage.models import (
    EventKind,
    Promise,
    Status,
    Ticket,
    TicketEvent,
    Visibility,
    is_active,
)
from core.tickets.lifecycle import reopen as reopen_ticket
from core.tickets.timeline import add_event, promise_next_update, settle_promises, tell_customer


async def reply(act: Act, ticket: Ticket) -> CommandReply:
    await answer(act.ctx, act.session, ticket, act.agent, act.command.text)
    return done(ticket, f"reply sent to {ticket.ref}")


async def answer(
    ctx: Context,
    session: AsyncSession,
    ticket: Ticket,
    agent: str,
    text: str,
    *,
    attachments: tuple[Attachment, ...] = (),
    event_text: str | None = None,
) -> TicketEvent:
    """An agent's public reply, with any files (stored locally) sent along."""
    if ticket.status == Status.CLOSED:
        raise CommandError(f"{ticket.ref} is closed; reopen it before replying")
    mark_worked(ticket, agent, ctx.now())
    said = await tell_customer(
        ctx, session, ticket, EventKind.AGENT_REPLY, "agent_reply", author=agent,
        automatic=False, event_text=text if event_text is None else event_text, text=text,
        keep_schedule=not is_active(ticket.status), attachments=attachments,
    )  # fmt: skip
    await refresh_cards(ctx, session, ticket)
    return said


async def eta(act: Act, ticket: Ticket) -> CommandReply:
    require_active(ticket, "eta")
    when, now = act.command.when, act.now
    assert when is not None  # the grammar always sets it for `eta`
    # A missed ETA not yet apologised for (the desk was closed, or the cap held it): the new
    # estimate carries that one apology, so it is neither lost nor sent twice.
    missed = ticket.eta
    if missed is None or missed > now or missed == ticket.eta_apologized:
        missed = None
    # "(earlier we said …)" only for an estimate the customer heard: an unsent notice of it is
    # about to be replaced by this one, so the customer never read it.
    previous = ticket.eta if ticket.eta is not None and ticket.eta > now else None
    if previous is not None and await has_unsent_notice(
        act.session, ticket.id, EventKind.ETA_SET, now
    ):
        previous = None
    await settle_promises(act.session, ticket, "eta", now, "superseded")
    ticket.eta = when
    ticket.eta_apologized = None
    mark_worked(ticket, act.agent, now, keep_status=True)
    act.session.add(Promise(ticket_id=ticket.id, kind="eta", due_at=when, made_at=now))
    await tell_customer(
        act.ctx, act.session, ticket, EventKind.ETA_SET, "eta_set", author=act.agent,
        automatic=False, text=act.command.text, missed_eta=missed, previous_eta=previous,
    )  # fmt: skip
    await refresh_cards(act.ctx, act.session, ticket)
    return done(ticket, f"{ticket.ref}: ETA {act.ctx.texts.when(when)}, customer told")


async def wait(act: Act, ticket: Ticket) -> CommandReply:
    require_active(ticket, "wait")
    ticket.status = Status.WAITING
    ticket.waiting_on = act.command.what
    mark_worked(ticket, act.agent, act.now, keep_status=True)
    await tell_customer(
        act.ctx, act.session, ticket, EventKind.WAITING, "waiting", author=act.agent,
        automatic=False, text=act.command.text,
    )  # fmt: skip
    await refresh_cards(act.ctx, act.session, ticket)
    return done(ticket, f"{ticket.ref} is waiting on {act.command.what}; customer told")


async def resolve(act: Act, ticket: Ticket) -> CommandReply:
    require_active(ticket, "resolve")
    now = act.now
    ticket.status = Status.RESOLVED
    ticket.resolved_at = now
    ticket.waiting_on = ""
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    await settle_promises(act.session, ticket, "eta", now, "resolved")
    reopen_days = int(act.ctx.settings.reminders.reopen_window.total_seconds() // 86400)
    # The question rides in the resolution message itself: one message, no extra one to cap.
    ask = await should_ask(act.ctx, act.session, ticket)
    scale = act.ctx.settings.csat.scale if ask else 0
    said = await tell_customer(
        act.ctx, act.session, ticket, EventKind.RESOLVED, "resolved", author=act.agent,
        automatic=False, text=act.command.text, reopen_days=reopen_days, csat_scale=scale,
        scale=scale, rating_url=rating_url(act.ctx.settings, ticket.id) if ask else "",
    )  # fmt: skip
    if ask:
        await offer_buttons(act.session, said, scale)
        await mark_asked(act.ctx, act.session, ticket)
    await refresh_cards(act.ctx, act.session, ticket)
    return done(ticket, f"{ticket.ref} resolved; customer told" + ("; rating asked" if ask else ""))


async def close(act: Act, ticket: Ticket) -> CommandReply:
    if ticket.status == Status.CLOSED:
        raise CommandError(f"{ticket.ref} is already closed")
    now, agent = act.now, act.agent
    ticket.status = Status.CLOSED
    ticket.closed_at = now
    ticket.next_update_due = None
    await settle_promises(act.session, ticket, "next_update", now, "closed")
    await settle_promises(act.session, ticket, "eta", now, "superseded")
    await add_event(act.session, ticket, EventKind.CLOSED, f"Closed by {agent}.", now, author=agent)
    await refresh_cards(act.ctx, act.session, ticket)
    return done(ticket, f"{ticket.ref} closed")


async def reopen(act: Act, ticket: Ticket) -> CommandReply:
    if is_active(ticket.status):
        raise CommandError(f"{ticket.ref} is {ticket.status}, not resolved or closed")
    await reopen_ticket(act.ctx, act.session, ticket, author=act.agent)
    return done(ticket, f"{ticket.ref} reopened; customer told")


async def record_public_reply(
    ctx: Context,
    session: AsyncSession,
    ticket: Ticket,
    agent: str,
    text: str,
    channel: str,
    external_id: str,
) -> CommandReply:
    """An agent answered where the customer already read it: on the record, and it counts as
    the customer's update, but nothing is sent."""
    now = ctx.now()
    if ticket.status == Status.CLOSED:
        await add_event(
            session, ticket, EventKind.NOTE, text, now, visibility=Visibility.INTERNAL,
            author=agent,
        )  # fmt: skip
        return done(ticket, f"{ticket.ref} is closed; kept as a note")
    mark_worked(ticket, agent, now)
    if is_active(ticket.status):
        await promise_next_update(ctx, session, ticket, now, EventKind.AGENT_REPLY)
    await add_event(
        session, ticket, EventKind.AGENT_REPLY, text, now, author=agent, channel=channel,
        external_id=external_id,
    )  # fmt: skip
    await refresh_cards(ctx, session, ticket)
    return CommandReply(True, f"reply recorded on {ticket.ref} (already in the customer's thread)")

"""Executing agent commands (one grammar for Slack, Discord and the CLI): what each verb does."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import CommandReply
from core.commands.grammar import Command, CommandError, parse
from core.context import Context
from core.delivery.enqueue import refresh_cards
from core.intake.apply import reopen
from core.storage.models import Promise, Status, Ticket
from core.tickets.timeline import (
    INTERNAL,
    add_event,
    is_active,
    promise_next_update,
    settle_promises,
    tell_customer,
)


async def run_words(ctx: Context, session: AsyncSession, agent: str, text: str) -> CommandReply:
    """Parse and execute; on any error nothing has changed."""
    now = ctx.now()
    try:
        calendar = ctx.calendar
        command = parse(text, now, calendar.tz, opens=calendar.open, closes=calendar.close)
    except CommandError as exc:
        return CommandReply(False, str(exc))
    if command.verb == "list":
        return await _list(ctx, session, agent, command.filter)
    assert command.ticket is not None
    ticket = await session.get(Ticket, command.ticket, with_for_update=True)
    if ticket is None:
        return CommandReply(False, f"there is no ticket T-{command.ticket}")
    try:
        return await _execute(ctx, session, agent, command, ticket)
    except CommandError as exc:
        return CommandReply(False, str(exc), ticket.ref)


def _require_active(ticket: Ticket, verb: str) -> None:
    if not is_active(ticket):
        raise CommandError(f"{ticket.ref} is {ticket.status}; reopen it before `{verb}`")


async def _execute(
    ctx: Context, session: AsyncSession, agent: str, command: Command, ticket: Ticket
) -> CommandReply:
    now = ctx.now()
    verb, ref = command.verb, ticket.ref
    if verb == "show":
        return CommandReply(True, _describe(ctx, ticket), ref)
    if verb == "note":
        await add_event(
            session, ticket, "note", command.text, now, visibility=INTERNAL, author=agent
        )
        return CommandReply(True, f"note added to {ref}", ref)
    if verb == "reply":
        if ticket.status == Status.CLOSED.value:
            raise CommandError(f"{ref} is closed; reopen it before replying")
        _mark_worked(ticket, agent, now)
        await tell_customer(
            ctx, session, ticket, "agent_reply", "agent_reply", author=agent, automatic=False,
            event_text=command.text, text=command.text, keep_schedule=not is_active(ticket),
        )  # fmt: skip
        await refresh_cards(ctx, session, ticket)
        return CommandReply(True, f"reply sent to {ref}", ref)
    if verb == "eta":
        _require_active(ticket, verb)
        assert command.when is not None
        # A missed ETA not yet apologised for (the desk was closed, or the cap held it): the
        # new estimate carries that one apology, so it is neither lost nor sent twice.
        missed = ticket.eta
        if missed is None or missed > now or missed == ticket.eta_apologized:
            missed = None
        await settle_promises(session, ticket, "eta", now, "superseded")
        ticket.eta = command.when
        ticket.eta_apologized = None
        _mark_worked(ticket, agent, now, keep_status=True)
        session.add(Promise(ticket_id=ticket.id, kind="eta", due_at=command.when, made_at=now))
        await tell_customer(
            ctx, session, ticket, "eta_set", "eta_set", author=agent, automatic=False,
            text=command.text, missed_eta=missed,
        )  # fmt: skip
        await refresh_cards(ctx, session, ticket)
        return CommandReply(True, f"{ref}: ETA {ctx.texts.when(command.when)}, customer told", ref)
    if verb == "wait":
        _require_active(ticket, verb)
        ticket.status = Status.WAITING.value
        ticket.waiting_on = command.what
        _mark_worked(ticket, agent, now, keep_status=True)
        await tell_customer(
            ctx, session, ticket, "waiting", "waiting", author=agent, automatic=False,
            text=command.text,
        )  # fmt: skip
        await refresh_cards(ctx, session, ticket)
        return CommandReply(True, f"{ref} is waiting on {command.what}; customer told", ref)
    if verb == "resolve":
        _require_active(ticket, verb)
        ticket.status = Status.RESOLVED.value
        ticket.resolved_at = now
        ticket.waiting_on = ""
        if ticket.first_response_at is None:
            ticket.first_response_at = now
        await settle_promises(session, ticket, "eta", now, "resolved")
        reopen_days = int(ctx.settings.reminders.reopen_window.total_seconds() // 86400)
        await tell_customer(
            ctx, session, ticket, "resolved", "resolved", author=agent, automatic=False,
            text=command.text, reopen_days=reopen_days,
        )  # fmt: skip
        await refresh_cards(ctx, session, ticket)
        return CommandReply(True, f"{ref} resolved; customer told", ref)
    if verb == "close":
        if ticket.status == Status.CLOSED.value:
            raise CommandError(f"{ref} is already closed")
        ticket.status = Status.CLOSED.value
        ticket.closed_at = now
        ticket.next_update_due = None
        await settle_promises(session, ticket, "next_update", now, "closed")
        await settle_promises(session, ticket, "eta", now, "superseded")
        await add_event(session, ticket, "closed", f"Closed by {agent}.", now, author=agent)
        await refresh_cards(ctx, session, ticket)
        return CommandReply(True, f"{ref} closed", ref)
    if verb == "reopen":
        if is_active(ticket):
            raise CommandError(f"{ref} is {ticket.status}, not resolved or closed")
        await reopen(ctx, session, ticket, author=agent)
        return CommandReply(True, f"{ref} reopened; customer told", ref)
    if verb in ("take", "assign"):
        who = agent if verb == "take" else command.agent
        if verb == "assign" and ctx.settings.agents and who not in ctx.settings.agents:
            known = ", ".join(sorted(ctx.settings.agents))
            raise CommandError(f'"{who}" is not an agent; agents: {known}')
        if ticket.assignee == who:
            return CommandReply(True, f"{ref} is already with {who}", ref)
        ticket.assignee = who
        await add_event(
            session, ticket, "assigned", f"Assigned to {who} by {agent}.", now,
            visibility=INTERNAL, author=agent,
        )  # fmt: skip
        await refresh_cards(ctx, session, ticket)
        return CommandReply(True, f"{ref} assigned to {who}", ref)
    if verb == "priority":
        old = ticket.priority
        ticket.priority = command.priority
        await add_event(
            session, ticket, "priority_set", f"Priority {old} → {command.priority} by {agent}.",
            now, visibility=INTERNAL, author=agent,
        )  # fmt: skip
        if is_active(ticket) and ticket.next_update_due is not None:
            # A higher priority can only bring the next update closer, never push it away.
            sooner = ctx.next_update_due(ticket.priority, ticket.status, now)
            ticket.next_update_due = min(ticket.next_update_due, sooner)
        await refresh_cards(ctx, session, ticket)
        return CommandReply(True, f"{ref} priority is now {command.priority}", ref)
    raise CommandError(f'unknown command "{verb}"')


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
    if ticket.status == Status.CLOSED.value:
        await add_event(session, ticket, "note", text, now, visibility=INTERNAL, author=agent)
        return CommandReply(True, f"{ticket.ref} is closed; kept as a note", ticket.ref)
    _mark_worked(ticket, agent, now)
    if is_active(ticket):
        await promise_next_update(ctx, session, ticket, now, "agent_reply")
    await add_event(
        session, ticket, "agent_reply", text, now, author=agent, channel=channel,
        external_id=external_id,
    )  # fmt: skip
    await refresh_cards(ctx, session, ticket)
    return CommandReply(True, f"reply recorded on {ticket.ref} (already in the customer's thread)")


def _mark_worked(ticket: Ticket, agent: str, now: datetime, *, keep_status: bool = False) -> None:
    """An agent acted: the ticket is open (a reply also ends waiting) and has an owner."""
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    if ticket.status == Status.NEW.value:
        ticket.status = Status.OPEN.value
    elif ticket.status == Status.WAITING.value and not keep_status:
        ticket.status = Status.OPEN.value
        ticket.waiting_on = ""
    if not ticket.assignee:
        ticket.assignee = agent


def _describe(ctx: Context, ticket: Ticket) -> str:
    when = ctx.texts.when
    lines = [
        f"{ticket.ref} [{ticket.status}, {ticket.priority}] {ticket.subject}",
        f"channel: {ticket.reply_channel} · assignee: {ticket.assignee or 'nobody'}",
        f"eta: {when(ticket.eta)} · next update due: {when(ticket.next_update_due)}",
    ]
    if ticket.waiting_on:
        lines.append(f"waiting on: {ticket.waiting_on}")
    return "\n".join(lines)


async def _list(ctx: Context, session: AsyncSession, agent: str, which: str) -> CommandReply:
    now = ctx.now()
    active = [status.value for status in (Status.NEW, Status.OPEN, Status.WAITING)]
    query = select(Ticket).where(Ticket.status.in_(active))
    if which == "mine":
        query = query.where(Ticket.assignee == agent)
    elif which == "waiting":
        query = query.where(Ticket.status == Status.WAITING.value)
    elif which == "overdue":
        query = query.where((Ticket.next_update_due <= now) | (Ticket.eta <= now))
    tickets = (await session.scalars(query.order_by(Ticket.id).limit(50))).all()
    if not tickets:
        return CommandReply(True, f"no {which} tickets")
    lines = [
        f"{t.ref} [{t.status}, {t.priority}] {t.subject} — {t.assignee or 'unassigned'}, "
        f"next update {ctx.texts.when(t.next_update_due)}"
        for t in tickets
    ]
    return CommandReply(True, "\n".join(lines))

"""The verbs only the team sees: show, note, take, assign, priority, and list."""

from __future__ import annotations

from sqlalchemy import func, select

from core.channel import CommandReply
from core.commands.act import Act, done
from core.commands.grammar import CommandError
from core.commands.same_verb import also_lines
from core.delivery.enqueue import refresh_cards
from core.stats.report import stats_text
from core.stats.window import StatsError
from core.storage.models import (
    ACTIVE_STATUSES,
    EventKind,
    Status,
    Ticket,
    TicketEvent,
    Visibility,
    is_active,
)
from core.tickets.timeline import add_event

# What an empty list says, in plain words, for each filter of `list`.
NOTHING_TO_LIST = {
    "open": "no tickets are open",
    "mine": "you hold no tickets",
    "overdue": "no tickets are overdue",
    "waiting": "no tickets are waiting on anyone",
}


async def show(act: Act, ticket: Ticket) -> CommandReply:
    when = act.ctx.texts.when
    lines = [
        f"{ticket.ref} [{ticket.status}, {ticket.priority}] {ticket.subject}",
        f"channel: {ticket.reply_channel} · assignee: {ticket.assignee or 'nobody'}",
        f"eta: {when(ticket.eta)} · next update due: {when(ticket.next_update_due)}",
    ]
    if ticket.waiting_on:
        lines.append(f"waiting on: {ticket.waiting_on}")
    lines.extend(await also_lines(act, ticket))  # the requester's other contacts (`same`)
    lines.extend(await _timeline(act, ticket))
    return done(ticket, "\n".join(lines))


SHOWN_EVENTS = 20
EVENT_TEXT = 70  # characters of each event: twenty of them still fit one Discord message


async def _timeline(act: Act, ticket: Ticket) -> list[str]:
    """The last events, oldest first, one line each; internal ones (notes…) marked."""
    query = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    events = (
        await act.session.scalars(query.order_by(TicketEvent.id.desc()).limit(SHOWN_EVENTS))
    ).all()
    if not events:
        return []
    total = await act.session.scalar(
        select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    )
    texts = act.ctx.texts
    shown = f"the last {len(events)} of {total}" if total and total > len(events) else "all"
    lines = [f"timeline ({shown} events; times in {texts.tz.key}):"]
    for event in reversed(events):
        mark = " [internal]" if event.visibility == Visibility.INTERNAL else ""
        words = " ".join(event.text.split())
        words = words[:EVENT_TEXT] + ("…" if len(words) > EVENT_TEXT else "")
        who = f" {event.author}" if event.author else ""
        lines.append(
            f"{texts.when(event.at, act.now, zone=False)} {event.kind}{mark}{who}: {words}"
        )
    return lines


async def note(act: Act, ticket: Ticket) -> CommandReply:
    await add_event(
        act.session, ticket, EventKind.NOTE, act.command.text, act.now,
        visibility=Visibility.INTERNAL, author=act.agent,
    )  # fmt: skip
    return done(ticket, f"note added to {ticket.ref}")


async def take(act: Act, ticket: Ticket) -> CommandReply:
    return await _assign_to(act, ticket, act.agent)


async def assign(act: Act, ticket: Ticket) -> CommandReply:
    who, agents = act.command.agent, act.ctx.settings.agents
    if who not in agents:
        known = ", ".join(sorted(agents)) or "none are configured"
        raise CommandError(f'"{who}" is not an agent; agents: {known}')
    return await _assign_to(act, ticket, who)


async def _assign_to(act: Act, ticket: Ticket, who: str) -> CommandReply:
    if ticket.assignee == who:
        return done(ticket, f"{ticket.ref} is already with {who}")
    ticket.assignee = who
    await add_event(
        act.session, ticket, EventKind.ASSIGNED, f"Assigned to {who} by {act.agent}.", act.now,
        visibility=Visibility.INTERNAL, author=act.agent,
    )  # fmt: skip
    await refresh_cards(act.ctx, act.session, ticket)
    return done(ticket, f"{ticket.ref} assigned to {who}")


async def priority(act: Act, ticket: Ticket) -> CommandReply:
    old, new = ticket.priority, act.command.priority
    ticket.priority = new
    await add_event(
        act.session, ticket, EventKind.PRIORITY_SET, f"Priority {old} → {new} by {act.agent}.",
        act.now, visibility=Visibility.INTERNAL, author=act.agent,
    )  # fmt: skip
    if is_active(ticket.status) and ticket.next_update_due is not None:
        # A higher priority can only bring the next update closer, never push it away.
        sooner = act.ctx.next_update_due(ticket.priority, ticket.status, act.now)
        ticket.next_update_due = min(ticket.next_update_due, sooner)
    await refresh_cards(act.ctx, act.session, ticket)
    return done(ticket, f"{ticket.ref} priority is now {new}")


async def list_tickets(act: Act) -> CommandReply:
    which, now = act.command.filter, act.now
    query = select(Ticket).where(Ticket.status.in_(ACTIVE_STATUSES))
    if which == "mine":
        query = query.where(Ticket.assignee == act.agent)
    elif which == "waiting":
        query = query.where(Ticket.status == Status.WAITING)
    elif which == "overdue":
        query = query.where((Ticket.next_update_due <= now) | (Ticket.eta <= now))
    tickets = (await act.session.scalars(query.order_by(Ticket.id).limit(50))).all()
    if not tickets:
        return CommandReply(True, NOTHING_TO_LIST[which])
    when = act.ctx.texts.when
    lines = [
        f"{t.ref} [{t.status}, {t.priority}] {t.subject} — {t.assignee or 'unassigned'}, "
        f"next update {when(t.next_update_due)}"
        for t in tickets
    ]
    return CommandReply(True, "\n".join(lines))


async def stats(act: Act) -> CommandReply:
    """The desk's headline figures since a period ago (30 days unless given), and a link to the
    charts valid for an hour."""
    try:
        text = await stats_text(act.session, act.ctx.settings, act.now, act.command.text or None)
    except StatsError as exc:
        return CommandReply(False, str(exc))
    return CommandReply(True, text)

"""The incident verbs: open one, link and unlink tickets, and updates fanned out to them.

An update to an incident goes to every linked open ticket as that ticket's own verb would
(reply, eta, wait, resolve): each customer hears it on their own channel and thread, each
ticket's timeline records it, and it counts as that ticket's update. The tickets are written
all at once (core/incidents/fanout.py); tests/test_incidents_fanout.py holds that to what the
ticket verbs in core/commands/customer.py do.

State rule: an agent may set the state with a leading `investigating:`, `identified:` or
`monitoring:` in a reply (`reply INC-3 monitoring: the fix is live`); a reply without one moves
`investigating` to `identified` (someone who can say something has found something) and leaves
any later state alone. `resolve` is the only way to `resolved`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core.channel import CommandReply
from core.commands.act import Act, done, mark_worked
from core.commands.grammar import CommandError
from core.delivery.enqueue import refresh_cards
from core.incidents.fanout import Update, tell_linked_tickets
from core.incidents.store import (
    OPENED,
    TICKET_LINKED,
    TICKET_UNLINKED,
    add_update,
    is_resolved,
    latest_news,
    locked_incident,
    mark_changed,
)
from core.people import people_of
from core.promises.kinds import PromiseKind
from core.storage.incident_models import Incident, IncidentLink, IncidentState
from core.storage.models import (
    ACTIVE_STATUSES,
    EventKind,
    Priority,
    Promise,
    Status,
    Ticket,
    Visibility,
    is_active,
)
from core.tickets.timeline import add_event, settle_promises, tell_customer

IncidentVerb = Callable[[Act, Incident], Awaitable[CommandReply]]
_STATE_PREFIX = re.compile(r"^(investigating|identified|monitoring)\s*:\s*", re.IGNORECASE)
_RESOLVED_PREFIX = re.compile(r"^resolved\s*:", re.IGNORECASE)


def _next_update(act: Act) -> Any:
    # An incident is owed news at the high-priority cadence: many customers are waiting on it.
    return act.ctx.next_update_due(Priority.HIGH, Status.OPEN, act.now)


def _promise_next_update(act: Act, incident: Incident) -> Any:
    """An update was given: the incident's next one is owed at its cadence, and the promise loop
    nudges for that one afresh. Its linked tickets are promised the same time."""
    incident.next_update_due = _next_update(act)
    incident.nudged_for = None
    return incident.next_update_due


async def open_incident(act: Act) -> CommandReply:
    now = act.now
    incident = Incident(
        title=act.command.text, state=IncidentState.INVESTIGATING, service=act.command.what,
        public=True,
        opened_by=act.agent, started_at=now, updated_at=now, next_update_due=_next_update(act),
    )  # fmt: skip
    act.session.add(incident)
    await act.session.flush()
    add_update(act.session, incident, OPENED, "", act.agent, now)
    return CommandReply(
        True, f"{incident.ref} opened: {incident.title} (investigating); "
        f"attach tickets with `link <ticket> {incident.ref}`", incident.ref,
    )  # fmt: skip


def _note(act: Act, incident: Incident, text: str, *, joined: bool = False, eta: Any = None) -> str:
    """The words each linked customer reads before the agent's own."""
    public = act.ctx.settings.web.public_url.rstrip("/")
    return act.ctx.texts.render(
        "incident_note", incident=incident.ref, title=incident.title, state=incident.state,
        text=text, joined=joined, eta=eta,
        status_url=f"{public}/status#{incident.ref}" if public else "",
    )  # fmt: skip


def _told(count: int) -> str:
    return "no linked open tickets" if count == 0 else f"{count} linked ticket(s) told"


async def incident_reply(act: Act, incident: Incident) -> CommandReply:
    text = act.command.text
    if _RESOLVED_PREFIX.match(text):
        raise CommandError(f"to resolve an incident, use `resolve {incident.ref} [text]`")
    chosen = _STATE_PREFIX.match(text)
    if chosen:
        incident.state = chosen.group(1).lower()
        text = text[chosen.end() :].strip()
        if not text:
            raise CommandError("missing text after the state; e.g. reply INC-3 monitoring: …")
    elif incident.state == IncidentState.INVESTIGATING:
        incident.state = IncidentState.IDENTIFIED
    due = _promise_next_update(act, incident)
    add_update(act.session, incident, "reply", text, act.agent, act.now)
    update = Update(EventKind.AGENT_REPLY, act.agent, _note(act, incident, text), due=due)
    count = await tell_linked_tickets(act.ctx, act.session, incident.id, update)
    return CommandReply(True, f"{incident.ref} ({incident.state}) updated; {_told(count)}")


async def incident_eta(act: Act, incident: Incident) -> CommandReply:
    when = act.command.when
    assert when is not None  # the grammar always sets it for `eta`
    incident.eta = when
    incident.eta_apologized = None  # a new estimate: its own apology, should it be missed
    due = _promise_next_update(act, incident)
    shown = act.ctx.texts.when(when)
    said = act.command.text or f"Expected to be fixed by {shown}."
    add_update(act.session, incident, "eta", said, act.agent, act.now)
    note = _note(act, incident, act.command.text)
    update = Update(EventKind.ETA_SET, act.agent, note, when=when, due=due)
    count = await tell_linked_tickets(act.ctx, act.session, incident.id, update)
    return CommandReply(True, f"{incident.ref}: ETA {shown}; {_told(count)}")


async def incident_wait(act: Act, incident: Incident) -> CommandReply:
    what, text = act.command.what, act.command.text
    due = _promise_next_update(act, incident)
    add_update(act.session, incident, "wait", f"Waiting on {what}. {text}".strip(),
               act.agent, act.now)  # fmt: skip
    update = Update(EventKind.WAITING, act.agent, _note(act, incident, text), what=what, due=due)
    count = await tell_linked_tickets(act.ctx, act.session, incident.id, update)
    return CommandReply(True, f"{incident.ref} is waiting on {what}; {_told(count)}")


async def incident_resolve(act: Act, incident: Incident) -> CommandReply:
    incident.state = IncidentState.RESOLVED
    incident.resolved_at = act.now
    incident.next_update_due = None
    add_update(act.session, incident, "resolved", act.command.text, act.agent, act.now)
    reopen_days = int(act.ctx.settings.reminders.reopen_window.total_seconds() // 86400)
    note = _note(act, incident, act.command.text)
    update = Update(EventKind.RESOLVED, act.agent, note, reopen_days=reopen_days)
    count = await tell_linked_tickets(act.ctx, act.session, incident.id, update)
    resolved = "no linked open tickets" if count == 0 else f"{count} linked ticket(s) resolved"
    return CommandReply(True, f"{incident.ref} resolved; {resolved}, each told")


async def incident_show(act: Act, incident: Incident) -> CommandReply:
    from core.incidents.views import show_incident

    view = await show_incident(act.session, incident.id)
    assert view is not None  # the caller found it
    when = act.ctx.texts.when
    lines = [
        f"{incident.ref} [{incident.state}] {incident.title}"
        + (f" (service: {incident.service})" if incident.service else ""),
        f"started {when(incident.started_at)} · eta: {when(incident.eta)} · "
        f"next update due: {when(incident.next_update_due)}",
        "tickets: " + (", ".join(view["tickets"]) or "none linked"),
    ]
    lines += [f"  {u['at']} [{u['state']}] {u['text']}" for u in view["updates"][:5]]
    return CommandReply(True, "\n".join(lines), incident.ref)


INCIDENT_VERBS: Mapping[str, IncidentVerb] = {
    "reply": incident_reply,
    "eta": incident_eta,
    "wait": incident_wait,
    "resolve": incident_resolve,
    "show": incident_show,
}


async def run_incident_verb(act: Act, number: int) -> CommandReply:
    """`reply|eta|wait|resolve|show INC-n`: find and lock the incident, then its verb."""
    incident = await locked_incident(act.session, number)
    if incident is None:
        return CommandReply(False, f"there is no incident INC-{number}")
    verb = act.command.verb
    if verb != "show" and is_resolved(incident):
        return CommandReply(
            False, f"{incident.ref} is resolved; open a new incident for a new problem"
        )
    try:
        return await INCIDENT_VERBS[verb](act, incident)
    except CommandError as exc:
        return CommandReply(False, str(exc), incident.ref)


async def _open_incident_for(act: Act, ticket: Ticket) -> Incident:
    number = act.command.incident
    assert number is not None  # the grammar always sets it for `link`
    # Read, not locked: the ticket is locked already, and an update locks the incident before
    # its tickets; taking them here in the other order could deadlock with one.
    incident = await act.session.get(Incident, number)
    if incident is None:
        raise CommandError(f"there is no incident INC-{number}")
    if is_resolved(incident):
        raise CommandError(f"{incident.ref} is resolved; a ticket can only join an open incident")
    return incident


async def link(act: Act, ticket: Ticket) -> CommandReply:
    if not is_active(ticket.status):
        raise CommandError(f"{ticket.ref} is {ticket.status}; only an open ticket can be linked")
    incident = await _open_incident_for(act, ticket)
    existing = await act.session.get(IncidentLink, ticket.id)
    if existing is not None:
        if existing.incident_id == incident.id:
            raise CommandError(f"{ticket.ref} is already linked to {incident.ref}")
        raise CommandError(f"{ticket.ref} is linked to INC-{existing.incident_id}; unlink it first")
    act.session.add(IncidentLink(ticket_id=ticket.id, incident_id=incident.id,
                                 linked_at=act.now, linked_by=act.agent))  # fmt: skip
    linked = f"Linked to {incident.ref} ({incident.title}) by {act.agent}."
    await _note_on_ticket(act.session, act, ticket, TICKET_LINKED, linked)
    mark_changed()
    await act.session.flush()
    await refresh_cards(act.ctx, act.session, ticket)  # its "Link to INC-n" button goes
    news = await latest_news(act.session, incident.id)
    if news is None:
        return done(ticket, f"{ticket.ref} linked to {incident.ref}")
    follows = await _already_follows(act.session, incident.id, ticket)
    await _tell_where_it_stands(act, incident, ticket, news.text, send=follows is None)
    if follows is not None:
        return done(ticket, f"{ticket.ref} linked to {incident.ref}; its customer already "
                    f"follows it on {follows}, nothing sent")  # fmt: skip
    return done(
        ticket, f"{ticket.ref} linked to {incident.ref}; customer told it is {incident.state}"
    )


async def _already_follows(session: AsyncSession, incident_id: int, ticket: Ticket) -> str | None:
    """The oldest other open ticket of the same person (core/people.py) linked to the
    incident, if any: that person has heard the incident's news there already."""

    def read(sync: Session) -> str | None:
        connection = sync.connection()
        contacts = people_of(connection, [ticket.requester_id])
        query = (
            select(Ticket.id)
            .join(IncidentLink, IncidentLink.ticket_id == Ticket.id)
            .where(
                IncidentLink.incident_id == incident_id,
                Ticket.id != ticket.id,
                Ticket.requester_id.in_(sorted(contacts) or [ticket.requester_id]),
                Ticket.status.in_([status.value for status in ACTIVE_STATUSES]),
            )
            .order_by(Ticket.id)
            .limit(1)
        )
        found = connection.scalar(query)
        return None if found is None else f"T-{found}"

    return await session.run_sync(read)


async def _tell_where_it_stands(
    act: Act, incident: Incident, ticket: Ticket, news: str, *, send: bool
) -> None:
    """The incident already has news: the customer who just joined hears where it stands now,
    as an incident reply tells each linked ticket. Their next update is the incident's (its
    promise is theirs from now on), and that is the time they read; an incident whose update
    is already overdue gets its round from the loop at once, so the incident's cadence from
    now is promised instead. `send=False`: the person follows the incident on another ticket
    already (one message per person), so this one only records it, publicly."""
    now = act.now
    due = incident.next_update_due
    if due is None or due <= now:
        due = _next_update(act)
    mark_worked(ticket, act.agent, now)
    ticket.next_update_due, ticket.nudged_for = due, None
    text = _note(act, incident, news, joined=True, eta=incident.eta)
    if send:
        # keep_schedule: the ticket's last promise is settled and its time left as set above.
        await tell_customer(
            act.ctx, act.session, ticket, EventKind.AGENT_REPLY, "agent_reply",
            author=act.agent, automatic=False, event_text=text, text=text, keep_schedule=True,
        )  # fmt: skip
    else:
        # What tell_customer records and settles, without the message: as the fan-out does
        # for a person's other tickets (core/incidents/fanout.py).
        kind = EventKind.AGENT_REPLY
        await settle_promises(act.session, ticket, PromiseKind.NEXT_UPDATE, now, kind)
        ticket.last_public_at = now
        await add_event(act.session, ticket, kind, text, now, author=act.agent,
                        channel=ticket.reply_channel)  # fmt: skip
    act.session.add(Promise(ticket_id=ticket.id, kind=PromiseKind.NEXT_UPDATE, due_at=due,
                            made_at=now))  # fmt: skip
    await refresh_cards(act.ctx, act.session, ticket)


async def unlink(act: Act, ticket: Ticket) -> CommandReply:
    existing = await act.session.get(IncidentLink, ticket.id, with_for_update=True)
    if existing is None:
        raise CommandError(f"{ticket.ref} is not linked to an incident")
    ref = f"INC-{existing.incident_id}"
    await act.session.delete(existing)
    await _note_on_ticket(act.session, act, ticket, TICKET_UNLINKED,
                          f"Unlinked from {ref} by {act.agent}.")  # fmt: skip
    mark_changed()
    await act.session.flush()
    await refresh_cards(act.ctx, act.session, ticket)
    return done(ticket, f"{ticket.ref} unlinked from {ref}")


async def _note_on_ticket(
    session: AsyncSession, act: Act, ticket: Ticket, kind: str, text: str
) -> None:
    await add_event(session, ticket, kind, text, act.now, visibility=Visibility.INTERNAL,
                    author=act.agent)  # fmt: skip

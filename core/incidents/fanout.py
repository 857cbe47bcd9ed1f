"""One incident update told to every linked open ticket, in a few grouped statements.

Each ticket gets exactly what its own verb would do (`reply`, `wait`, `resolve` in
core/commands/customer.py, through tell_customer): its state moves, its last promise is settled
and the next one made, the message is on its timeline and queued on its own channel and
thread. Doing that ticket by ticket costs about seven statements each; an incident with 5,000
linked tickets is done here with one statement per table for each thousand tickets.
tests/test_incidents_fanout.py holds the two paths to the same result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, false, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Audience
from core.context import Context
from core.csat.group import askable
from core.csat.page import rating_url
from core.csat.press import buttons_on
from core.csat.record import asked_text
from core.delivery.rows import SETTLING, SUPERSEDES
from core.on_commit import on_commit
from core.people import people_of
from core.promises.reads import BatchReads, read_card_parts
from core.promises.step import Step
from core.promises.writes import EVENTS, OUTBOX, PROMISES, TICKETS, Writes, detached_ticket
from core.storage.incident_models import IncidentLink
from core.storage.models import (
    ACTIVE_STATUSES,
    EventKind,
    OutboxStatus,
    Status,
    Ticket,
    Visibility,
)
from core.tickets.timeline import customer_message, event_values, known_page_link, public_text

CHUNK = 1000  # tickets per statement: well under every driver's limit on bound parameters
_MOVED = ("status", "waiting_on", "first_response_at", "assignee", "resolved_at", "eta",
          "eta_apologized", "next_update_due", "nudged_for", "last_public_at",
          "updated_at")  # fmt: skip


@dataclass(frozen=True)
class Update:
    """What the agent said to every linked ticket: which verb, and its words."""

    kind: EventKind  # AGENT_REPLY, ETA_SET, WAITING or RESOLVED
    author: str
    text: str  # the words each customer reads after the incident's
    what: str = ""  # for `wait`: what we wait on
    reopen_days: int = 0  # for `resolve`
    when: datetime | None = None  # for `eta`
    # The incident's next update time: while linked, the incident's promise is each ticket's
    # (None: each ticket's own cadence, as its verb would).
    due: datetime | None = None


RENDER = {EventKind.AGENT_REPLY: "agent_reply", EventKind.ETA_SET: "eta_set",
          EventKind.WAITING: "waiting", EventKind.RESOLVED: "resolved"}  # fmt: skip


def _chunks(numbers: Sequence[int]) -> list[Sequence[int]]:
    return [numbers[start : start + CHUNK] for start in range(0, len(numbers), CHUNK)]


def _locked_tickets(connection: Connection, incident_id: int) -> list[Ticket]:
    """The linked open tickets, locked in ticket order, as detached objects."""
    query = (
        select(TICKETS)
        .join(IncidentLink.__table__, IncidentLink.ticket_id == TICKETS.c.id)
        .where(IncidentLink.incident_id == incident_id, TICKETS.c.status.in_(ACTIVE_STATUSES))
        .order_by(TICKETS.c.id)
        .with_for_update(of=TICKETS)
    )
    return [detached_ticket(row._mapping) for row in connection.execute(query)]


def _threads(connection: Connection, numbers: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """Each ticket's (external id, kind) events on its own channel, oldest first."""
    found: dict[int, list[tuple[str, str]]] = {number: [] for number in numbers}
    for chunk in _chunks(numbers):
        rows = connection.execute(
            select(EVENTS.c.ticket_id, EVENTS.c.external_id, EVENTS.c.kind)
            .join(TICKETS, TICKETS.c.id == EVENTS.c.ticket_id)
            .where(
                EVENTS.c.ticket_id.in_(chunk),
                EVENTS.c.channel == TICKETS.c.reply_channel,
                EVENTS.c.external_id != "",
            )
            .order_by(EVENTS.c.id)
        )
        for ticket_id, external_id, kind in rows:
            found[ticket_id].append((external_id, kind))
    return found


def _settle(connection: Connection, numbers: Sequence[int], kind: str, now: datetime,
            settled_by: str, counted: Writes) -> None:  # fmt: skip
    """settle_promises for many tickets: kept when settled by the due time; each result goes
    to `counted`, for the promise counter once the transaction has committed."""
    kept: Any = PROMISES.c.due_at >= now
    if settled_by == "superseded":
        kept = case((PROMISES.c.due_at > now, null()), else_=false())
    for chunk in _chunks(numbers):
        settled = connection.execute(
            update(PROMISES)
            .where(
                PROMISES.c.ticket_id.in_(chunk),
                PROMISES.c.kind == kind,
                PROMISES.c.settled_at.is_(None),
            )
            .values(kept=kept, settled_at=now, settled_by=settled_by)
            .returning(PROMISES.c.kept)
        )
        counted.counted += [(kind, result) for result in settled.scalars()]


def _cancel_unsent(
    connection: Connection, numbers: Sequence[int], kind: str, now: datetime
) -> None:
    """The unsent notices a message of `kind` makes stale (an ETA once resolved), cancelled."""
    stale = [str(older) for older in SUPERSEDES.get(EventKind(kind), ())]
    if not stale:
        return
    for chunk in _chunks(numbers):
        connection.execute(
            update(OUTBOX)
            .where(
                OUTBOX.c.ticket_id.in_(chunk), OUTBOX.c.kind.in_(stale),
                OUTBOX.c.audience == Audience.CUSTOMER.value,
                OUTBOX.c.status == OutboxStatus.PENDING.value,
                (OUTBOX.c.lease_until.is_(None)) | (OUTBOX.c.lease_until < now),
            )
            .values(status=OutboxStatus.CANCELLED.value, lease_until=None,
                    last_error=f"superseded by a later {kind} message")
        )  # fmt: skip


def _unsent_eta(connection: Connection, numbers: Sequence[int], now: datetime) -> set[int]:
    """Tickets whose last ETA notice has not gone out (the customer never read that ETA)."""
    found: set[int] = set()
    for chunk in _chunks(numbers):
        found.update(connection.execute(
            select(OUTBOX.c.ticket_id).where(
                OUTBOX.c.ticket_id.in_(chunk), OUTBOX.c.kind == EventKind.ETA_SET.value,
                OUTBOX.c.audience == Audience.CUSTOMER.value,
                OUTBOX.c.status == OutboxStatus.PENDING.value,
                (OUTBOX.c.lease_until.is_(None)) | (OUTBOX.c.lease_until < now),
            )
        ).scalars())  # fmt: skip
    return found


def _new_eta(ticket: Ticket, when: datetime, now: datetime, unsent: bool) -> dict[str, Any]:
    """customer.eta for one ticket: the missed ETA not yet apologised for, and the earlier
    estimate the customer heard (not one whose notice never went out); then the new one."""
    missed = ticket.eta
    if missed is None or missed > now or missed == ticket.eta_apologized:
        missed = None
    previous = ticket.eta if ticket.eta is not None and ticket.eta > now and not unsent else None
    ticket.eta, ticket.eta_apologized = when, None
    return {"missed_eta": missed, "previous_eta": previous}


def _move(ctx: Context, ticket: Ticket, update: Update, now: datetime) -> datetime | None:
    """The ticket's state after the verb (as customer.py moves it); its next update's time."""
    if update.kind == EventKind.RESOLVED:
        ticket.status, ticket.resolved_at, ticket.waiting_on = Status.RESOLVED, now, ""
        ticket.first_response_at = ticket.first_response_at or now
        ticket.next_update_due = None
    else:
        if update.kind == EventKind.WAITING:
            ticket.status, ticket.waiting_on = Status.WAITING, update.what
        elif update.kind == EventKind.AGENT_REPLY and ticket.status == Status.WAITING:
            # A reply ends waiting (mark_worked); an ETA keeps it.
            ticket.status, ticket.waiting_on = Status.OPEN, ""
        if ticket.status == Status.NEW:
            ticket.status = Status.OPEN
        ticket.first_response_at = ticket.first_response_at or now
        ticket.assignee = ticket.assignee or update.author
        ticket.next_update_due = update.due or ctx.next_update_due(
            ticket.priority, ticket.status, now
        )
        ticket.nudged_for = None
    ticket.last_public_at = ticket.updated_at = now
    return ticket.next_update_due


def _promise(ticket: Ticket, kind: str, due: datetime, now: datetime) -> dict[str, Any]:
    return {"ticket_id": ticket.id, "kind": kind, "due_at": due, "made_at": now, "kept": None,
            "settled_at": None, "settled_by": ""}  # fmt: skip


def _writes(ctx: Context, ticket: Ticket, update: Update, now: datetime,
            thread: list[tuple[str, str]], unsent_eta: bool, ask: bool,
            send: bool = True) -> Writes:  # fmt: skip
    """One ticket's rows: its new state, promises, timeline event, outbox row and thread key;
    `ask`: the resolution asks the satisfaction question (as customer.resolve does);
    `send=False`: the person heard it on another of their tickets, so it is only recorded."""
    writes = Writes()
    extra: dict[str, Any] = {}
    scale = ctx.settings.csat.scale if ask else 0
    if update.kind == EventKind.RESOLVED:
        link = rating_url(ctx.settings, ticket.id) if ask else ""
        extra.update(reopen_days=update.reopen_days, csat_scale=scale, scale=scale, rating_url=link)
    if update.kind == EventKind.ETA_SET and update.when is not None:
        extra = _new_eta(ticket, update.when, now, unsent_eta)
        writes.promises.append(_promise(ticket, "eta", update.when, now))
    due = _move(ctx, ticket, update, now)
    if due is not None:
        writes.promises.append(_promise(ticket, "next_update", due, now))
    render = RENDER[update.kind]
    text = public_text(ctx, ticket, render, due, update.author, now, text=update.text, **extra)
    message = customer_message(
        ticket, update.kind, text, now, author=update.author, automatic=False,
        conversation=thread, page_link=known_page_link(ctx, ticket.id),
        event_text=update.text if update.kind == EventKind.AGENT_REPLY else text,
    )  # fmt: skip
    event = writes.event(message.event)
    writes.tickets.append({"ticket_id": ticket.id, **{c: getattr(ticket, c) for c in _MOVED}})
    if not send:
        return writes
    writes.outbox.append((message.outbox, event))
    if update.kind in SETTLING:  # an ETA notice waits a moment for a newer one
        writes.outbox[-1][0]["next_attempt_at"] = now + ctx.settings.reminders.settle
    if ask:
        values = writes.outbox[-1][0]
        values["message"] = buttons_on(values["message"], values["channel"], scale)
        writes.event(event_values(ticket.id, EventKind.CSAT_ASKED, asked_text(scale), now,
                                  visibility=Visibility.INTERNAL, author="tidings"))  # fmt: skip
    writes.refs.append(
        {"channel": ticket.reply_channel, "key": message.token, "ticket_id": ticket.id}
    )
    return writes


def _fan_out(ctx: Context, connection: Connection, incident_id: int, update: Update,
             now: datetime) -> tuple[list[int], Writes]:  # fmt: skip
    """The linked tickets written, and what they settled (for the counters after commit)."""
    tickets = _locked_tickets(connection, incident_id)
    numbers = [ticket.id for ticket in tickets]
    everything = Writes()
    if not numbers:
        return [], everything
    threads = _threads(connection, numbers)
    unsent = _unsent_eta(connection, numbers, now) if update.kind == EventKind.ETA_SET else set()
    if update.kind == EventKind.RESOLVED:
        _settle(connection, numbers, "eta", now, "resolved", everything)
    if update.kind == EventKind.ETA_SET:
        _settle(connection, numbers, "eta", now, "superseded", everything)
    _settle(connection, numbers, "next_update", now, str(update.kind), everything)
    _cancel_unsent(connection, numbers, update.kind, now)
    ask = askable(ctx, connection, tickets) if update.kind == EventKind.RESOLVED else set()
    # One message per person: someone with several linked tickets hears it on the oldest.
    # A person is every contact an agent linked with `same` (core/people.py).
    people = people_of(connection, [ticket.requester_id for ticket in tickets])
    heard: set[int] = set()
    for ticket in tickets:
        person = people.get(ticket.requester_id, ticket.requester_id)
        send = person not in heard
        heard.add(person)
        ask_here = send and ticket.id in ask
        everything.extend(_writes(ctx, ticket, update, now, threads[ticket.id],
                                  ticket.id in unsent, ask_here, send))  # fmt: skip
    everything.apply(connection)
    _refresh_cards(ctx, connection, tickets, now)
    return numbers, everything


def _refresh_cards(ctx: Context, connection: Connection, tickets: list[Ticket],
                   now: datetime) -> None:  # fmt: skip
    """Each ticket's triage cards, as refresh_cards updates them (an unsent card update is
    replaced, not added), read and written for `CHUNK` tickets at a time."""
    targets = ctx.triage_targets()
    if not targets:
        return
    for start in range(0, len(tickets), CHUNK):
        chunk = tickets[start : start + CHUNK]
        reads = BatchReads()
        read_card_parts(connection, chunk, [target.channel for target in targets], reads)
        cards = Writes()
        for ticket in chunk:
            step = Step(ctx, ticket, reads, now)
            step.refresh_cards(targets)
            cards.extend(step.writes)
        cards.apply(connection)


async def tell_linked_tickets(
    ctx: Context, session: AsyncSession, incident_id: int, update: Update
) -> int:
    """The update on every linked open ticket, in the caller's transaction; how many."""
    now = ctx.now()
    numbers, written = await session.run_sync(
        lambda sync: _fan_out(ctx, sync.connection(), incident_id, update, now)
    )
    # Counted like the ticket verbs' settle_promises: kept and broken, once committed.
    on_commit(session, written.report)
    return len(numbers)


__all__ = ["Update", "tell_linked_tickets"]

"""A seeded desk for the statistics tests: rows written straight to the tables, and the same
facts kept in Python so the tests can compute every figure independently of the SQL."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.db import Database
from core.storage.models import Contact, Promise, Status, Ticket, TicketEvent

CHANNELS = ("discord", "email", "slack")


@dataclass
class Seeded:
    tickets: list[Ticket] = field(default_factory=list)
    promises: list[Promise] = field(default_factory=list)
    events: list[TicketEvent] = field(default_factory=list)


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def plan_desk(now: datetime, seed: int = 7, count: int = 120) -> Seeded:
    """Tickets over the last 40 days, some before a 30-day window, with promises and events."""
    rng = random.Random(seed)
    seeded = Seeded()
    for number in range(1, count + 1):
        created = _second(now - timedelta(seconds=rng.randrange(40 * 86400)))
        ticket = Ticket(
            id=number, requester_id=1, reply_channel=rng.choice(CHANNELS), reply_address="x",
            subject=f"problem {number}", created_at=created, updated_at=created,
            status=Status.OPEN.value,
        )  # fmt: skip
        if rng.random() < 0.85:
            ticket.first_response_at = created + timedelta(seconds=rng.randrange(60, 2 * 86400))
            ticket.first_response_at = min(ticket.first_response_at, now)
        resolved = created + timedelta(seconds=rng.randrange(600, 10 * 86400))
        if rng.random() < 0.7 and resolved <= now:
            ticket.status = rng.choice([Status.RESOLVED, Status.CLOSED]).value
            ticket.resolved_at = resolved
        else:
            ticket.status = rng.choice([Status.NEW, Status.OPEN, Status.WAITING]).value
        seeded.tickets.append(ticket)
        _plan_promises(rng, seeded, ticket, now)
        _plan_events(rng, seeded, ticket, now)
    return seeded


def _plan_promises(rng: random.Random, seeded: Seeded, ticket: Ticket, now: datetime) -> None:
    for kind, how_many in (("next_update", rng.randrange(4)), ("eta", rng.randrange(2))):
        made = ticket.created_at
        for _ in range(how_many):
            made = made + timedelta(seconds=rng.randrange(60, 86400))
            if made > now:
                return
            promise = Promise(ticket_id=ticket.id, kind=kind, made_at=made,
                              due_at=made + timedelta(hours=4))  # fmt: skip
            settled = made + timedelta(seconds=rng.randrange(60, 8 * 3600))
            if settled <= now and rng.random() < 0.9:
                promise.settled_at = settled
                promise.kept = rng.choice([True, True, True, False, None])
                promise.settled_by = "test"
            seeded.promises.append(promise)


def _plan_events(rng: random.Random, seeded: Seeded, ticket: Ticket, now: datetime) -> None:
    def add(kind: str, text: str, at: datetime) -> None:
        if at <= now:
            seeded.events.append(TicketEvent(ticket_id=ticket.id, kind=kind, text=text, at=at))

    start = ticket.created_at
    add("customer_message", "4 printers are down", start)  # a digit, but not a csat answer
    if rng.random() < 0.25:
        add("apology", "Sorry, we missed the date.", start + timedelta(hours=rng.randrange(1, 48)))
    if ticket.resolved_at is not None and rng.random() < 0.6:
        asked = ticket.resolved_at + timedelta(minutes=1)
        add("csat_asked", "How did we do?", asked)
        if rng.random() < 0.7:
            answer = rng.choice(["1", "2", "3", "4 thanks", "5", "5!", "great"])
            add("csat", answer, asked + timedelta(minutes=rng.randrange(1, 600)))
    if rng.random() < 0.05:
        add("logged", "Solved on the phone", start)


async def write_desk(db: Database, seeded: Seeded) -> None:
    first = min(ticket.created_at for ticket in seeded.tickets)

    async def work(session: AsyncSession) -> None:
        session.add(Contact(id=1, channel="email", address="x", created_at=first))
        await session.flush()
        session.add_all(seeded.tickets)
        await session.flush()
        session.add_all([*seeded.promises, *seeded.events])

    await db.write(work)

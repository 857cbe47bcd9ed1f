"""The incident's promise in the promise loop: one nudge, one automatic update and one apology
per missed ETA for the whole incident, fanned out to its linked open tickets.

Each linked ticket is told on its own channel and thread, through the same Step the ticket scans
use (its promise settled and the next one made, its timeline, the per-customer cap), but the
next update's time is the incident's, so the tickets move together and never fire one by one.
One person with several linked tickets hears each round once, on the oldest of them; the others
record it on their timeline (public, nothing sent). One transaction per incident, written in
grouped statements `CHUNK` tickets at a time."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from core.context import Context
from core.delivery.rows import incident_notice_values
from core.incidents.store import mark_changed
from core.promises.actions import PromiseActions
from core.promises.incident_reads import (
    INCIDENTS,
    OpenIncident,
    chunks,
    due_incidents,
    lock_incident,
)
from core.promises.kinds import LoopEvent, PromiseKind, Settled
from core.promises.reads import BatchReads, lock_people, read_batch
from core.promises.step import Step
from core.promises.writes import OUTBOX, Writes, ticket_state
from core.storage.db import Database
from core.storage.models import EventKind, Priority, Status, Ticket

log = logging.getLogger("core.promises")

CHUNK = 500  # tickets per grouped statement, well under every driver's bound-parameter limit


@dataclass
class Round:
    """One automatic update of an incident, as every linked ticket hears it."""

    now: datetime
    due: datetime  # the incident's next update after this one
    missed: datetime | None  # the incident ETA this round apologises for
    context: dict[str, Any]  # what the incident templates say about the incident
    told: dict[int, str] = field(default_factory=dict)  # contact -> the ticket told on


class IncidentPass:
    """Finds the open incidents that owe something and acts for each in one transaction."""

    def __init__(self, db: Database, ctx: Context, actions: PromiseActions) -> None:
        self.db = db
        self.ctx = ctx
        self.actions = actions

    async def tick(self, now: datetime, horizon: datetime) -> int:
        """Nudges and messages queued for incidents (their linked tickets leave the ticket
        scans while the incident is open)."""
        async with self.db.sessions() as session:
            numbers = list((await session.scalars(due_incidents(now, horizon))).all())
        done = 0
        for number in numbers:
            acted, writes = await self.db.write(self._work(number, now, horizon))
            writes.report()
            mark_changed()  # the status page shows the incident's next update time
            done += acted
        return done

    def _work(
        self, number: int, now: datetime, horizon: datetime
    ) -> Callable[[Connection], tuple[int, Writes]]:
        def work(connection: Connection) -> tuple[int, Writes]:
            incident = lock_incident(connection, number, skip_locked=not self.db.is_sqlite)
            if incident is None:
                return 0, Writes()
            due, missed = incident.earliest_due(), incident.missed_eta(now)
            if missed is not None or (due is not None and due <= now):
                return self._update(connection, incident, missed, now)
            if due is not None and due <= horizon and incident.nudged_for != due:
                return self._nudge(connection, incident, due, now)
            return 0, Writes()

        return work

    def _update(
        self, connection: Connection, incident: OpenIncident, missed: datetime | None,
        now: datetime,
    ) -> tuple[int, Writes]:  # fmt: skip
        """The automatic update (or the apology) to every linked ticket, then the incident."""
        due = self.ctx.next_update_due(Priority.HIGH, Status.OPEN, now)
        round_ = Round(now, due, missed, self._context(incident, now))
        if not self.db.is_sqlite:  # the cap is counted under each person's lock (see reads)
            lock_people(connection, [ticket.requester_id for ticket in incident.tickets])
        summary = Writes()
        triage = self.ctx.triage_targets()
        for chunk in chunks(incident.tickets, CHUNK):
            reads = read_batch(connection, list(chunk), now, triage)
            batch = Writes()
            for ticket in chunk:
                self._visit(ticket, reads, batch, round_)
            batch.apply(connection)
            summary.counted += batch.counted
        apologised = incident.eta_apologized if missed is None else missed
        connection.execute(
            update(INCIDENTS).where(INCIDENTS.c.id == incident.id)
            .values(next_update_due=due, nudged_for=None, eta_apologized=apologised,
                    updated_at=now)
        )  # fmt: skip
        what = "apology for the missed ETA" if missed else "automatic update"
        self._happened(summary, incident, "apology" if missed else "status_update", now,
                       f"{what} to {len(round_.told)} customer(s)")  # fmt: skip
        if missed is not None:
            text = self.ctx.texts.render(
                "incident_eta_missed_agents", missed_eta=missed, count=len(round_.told), now=now,
                **round_.context,
            )  # fmt: skip
            self._alert(connection, incident, LoopEvent.ALERT, text, now)
        return len(round_.told), summary

    def _visit(self, ticket: Ticket, reads: BatchReads, batch: Writes, round_: Round) -> None:
        """One linked ticket's part of the round; kept only if all of it worked out."""
        before = ticket_state(ticket)
        step = Step(self.ctx, ticket, reads, round_.now, next_due=round_.due)
        try:
            self._tell(step, round_)
        except Exception:  # a broken template must not stop the other customers
            log.exception("promise loop: %s failed in its incident's round", ticket.ref)
            # Moved with the incident all the same: left due, it would start a round per tick.
            batch.tickets.append({"ticket_id": ticket.id, **before,
                                  "next_update_due": round_.due})  # fmt: skip
            return
        after = ticket_state(ticket)
        if after != before:
            step.writes.tickets.append({"ticket_id": ticket.id, **after})
        batch.extend(step.writes)
        if step.told is not None:
            reads.sent[step.told].insert(0, round_.now)
            round_.told[step.told] = ticket.ref

    def _tell(self, step: Step, round_: Round) -> None:
        ticket = step.ticket
        told_on = round_.told.get(step.reads.person(ticket.requester_id))
        frees_at = None if told_on else step.cap_frees_at()
        if frees_at is not None:
            self._hold(step, round_, frees_at)
            return
        own_missed = self.actions.eta_missed(step)  # an ETA of the ticket's own, passed
        if own_missed:
            step.settle(PromiseKind.ETA, Settled.APOLOGY, lambda _due: False)
            ticket.eta_apologized = ticket.eta
        context = {**round_.context, "status": ticket.status}
        if round_.missed is not None or own_missed:
            kind, render = EventKind.APOLOGY, "incident_apology"
            context["missed_eta"] = round_.missed or ticket.eta
            self.actions.settle_on_time(step, Settled.APOLOGY)
        else:
            kind, render = EventKind.STATUS_UPDATE, "incident_status_update"
            self.actions.settle_on_time(step, Settled.STATUS_UPDATE)
        step.tell(kind, render=render, send=told_on is None, **context)
        step.refresh_cards(self.ctx.triage_targets())

    def _hold(self, step: Step, round_: Round, frees_at: datetime) -> None:
        """The cap holds this person back: they miss this round and hear the next one."""
        ticket = step.ticket
        later = max(round_.due, frees_at)
        if ticket.next_update_due is None or ticket.next_update_due <= later:
            # Told "by then", they will not hear from us by then: a broken promise.
            step.settle(PromiseKind.NEXT_UPDATE, Settled.CAP, lambda _due: False)
            step.promise(PromiseKind.NEXT_UPDATE, later)
            ticket.next_update_due, ticket.nudged_for = later, None
        cap = self.ctx.settings.reminders.max_automatic_per_day
        step.add_event(
            LoopEvent.CAPPED,
            f"Automatic update of {round_.context['incident']} held back for this customer: "
            f"they already had {cap} automatic messages in the last 24 hours. They hear the "
            f"incident's next update, by {self.ctx.texts.when(ticket.next_update_due)}.",
        )

    def _nudge(
        self, connection: Connection, incident: OpenIncident, due: datetime, now: datetime
    ) -> tuple[int, Writes]:
        """One nudge to agents for the whole incident."""
        calendar = self.ctx.calendar
        connection.execute(
            update(INCIDENTS).where(INCIDENTS.c.id == incident.id).values(nudged_for=due)
        )
        text = self.ctx.texts.render(
            "incident_nudge", due=due, count=len(incident.tickets), now=now,
            minutes=math.ceil(calendar.business_seconds_between(now, due) / 60),
            business_hours=not calendar.always_open, **self._context(incident, now),
        )  # fmt: skip
        writes = Writes()
        self._happened(writes, incident, "nudge", due, "nudge, automatic update due")
        self._alert(connection, incident, EventKind.NUDGE, text, now)
        return 1, writes

    def _alert(self, connection: Connection, incident: OpenIncident, kind: str, text: str,
               now: datetime) -> None:  # fmt: skip
        """One message about the incident to every triage channel (the channel itself, not a
        ticket's card thread) and every agent's mailbox: it has no ticket of its own, and an
        incident nobody linked a ticket to yet is owed its updates all the same."""
        rows = [
            incident_notice_values(
                incident.ref, incident.title, target, kind=kind, text=text, now=now
            )
            for target in self.ctx.triage_targets()
        ]
        if rows:
            connection.execute(insert(OUTBOX), rows)

    def _context(self, incident: OpenIncident, now: datetime) -> dict[str, Any]:
        public = self.ctx.settings.web.public_url.rstrip("/")
        return {
            "incident": incident.ref, "title": incident.title, "incident_state": incident.state,
            # An ETA already passed is no estimate: the texts say there is none yet.
            "eta": incident.eta if incident.eta is not None and incident.eta > now else None,
            "status_url": f"{public}/status#{incident.ref}" if public else "",
        }  # fmt: skip

    @staticmethod
    def _happened(writes: Writes, incident: OpenIncident, action: str, due: datetime,
                  message: str) -> None:  # fmt: skip
        fields = {"event": f"promise.incident_{action}", "incident": incident.ref,
                  "tickets": len(incident.tickets), "due": due.isoformat()}  # fmt: skip
        writes.happened.append((f"{incident.ref}: {message}", fields))

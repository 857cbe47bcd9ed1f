"""The promise loop: nudges agents, sends due status updates and apologies for missed ETAs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, or_, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from core.context import Context
from core.delivery.digest import queue_digests
from core.promises.actions import PromiseActions
from core.promises.incident_pass import IncidentPass
from core.promises.incident_reads import linked_to_open_incident
from core.promises.reads import BatchReads, lock_people, read_batch
from core.promises.step import Step
from core.promises.writes import TICKETS, Writes, detached_ticket, ticket_state
from core.storage.db import Database
from core.storage.models import ACTIVE_STATUSES, Ticket, is_active

log = logging.getLogger(__name__)

# Missed ETAs older than this are not looked for after a start: it bounds the index range the
# first scan reads (resolved tickets keep their ETA forever); only an outage this long could leave
# one behind. Later scans read only ETAs that passed since the previous full scan, less a margin
# for transactions that were still committing, so the range does not grow with the history.
ETA_LOOKBACK = timedelta(days=35)
ETA_MARGIN = timedelta(hours=1)
_ACTIVE = [status.value for status in ACTIVE_STATUSES]


class Scan(StrEnum):
    """The two index ranges a tick walks: updates owed (or soon owed), and ETAs passed."""

    DUE = "due"
    ETA = "eta"


@dataclass
class _Cursor:
    """Keyset position inside one tick, so every ticket is visited at most once per tick."""

    at: datetime | None = None
    id: int = 0

    def after(self, column: Any) -> ColumnElement[bool]:
        if self.at is None:
            return true()
        return and_(
            column >= self.at, or_(column > self.at, and_(column == self.at, Ticket.id > self.id))
        )


@dataclass
class _Moment:
    """What one tick measures against: now, and how far ahead agents are nudged."""

    now: datetime
    horizon: datetime


SQLITE_BATCH = 50


class PromiseLoop:
    """One tick finds what is owed through the indexes and does it, one locked batch at a time.

    Everything is state-driven: each action moves the ticket's state (next_update_due,
    nudged_for, eta_apologized) in the same transaction as the outbox row it writes. A tick that
    runs late, twice, after a restart, or in two processes therefore acts once per promise.
    """

    def __init__(self, db: Database, ctx: Context, batch: int | None = None) -> None:
        self.db = db
        self.ctx = ctx
        # A batch is one transaction. SQLite has one writer: a long batch would hold up the
        # SMTP and Slack acknowledgements queued behind it, so batches there stay short (50
        # tickets take a few tens of milliseconds; each commit's fsync is paid once per batch).
        self.batch = batch or (SQLITE_BATCH if db.is_sqlite else 100)
        self.actions = PromiseActions(ctx)
        self.incidents = IncidentPass(db, ctx, self.actions)
        self.eta_scanned: datetime | None = None  # `now` of the last tick that finished

    async def tick(self) -> int:
        """Do everything due now; return how many messages and nudges were queued."""
        now = self.ctx.now()
        calendar = self.ctx.calendar
        # Agents' mail digests stand for notices that go at any hour: they keep no hours either.
        digests = await queue_digests(self.db, now)
        if not calendar.is_open(now):
            return digests  # automatic messages and nudges wait for the next opening
        moment = _Moment(now, calendar.add(now, self.ctx.settings.reminders.nudge_before))
        eta_from = now - ETA_LOOKBACK
        if self.eta_scanned is not None:
            # An ETA missed earlier was apologised for then, or held by the cap, and a held
            # one comes back through its next_update_due, which _act checks for missed ETAs.
            eta_from = max(eta_from, self.eta_scanned - ETA_MARGIN)
        # Incidents first: their linked tickets are theirs to tell, and left out of the scans.
        done = digests + await self.incidents.tick(now, moment.horizon)
        for scan in Scan:
            cursor = _Cursor()
            while True:
                query = self._due_query(scan, now, moment.horizon, cursor, eta_from)
                acted, count, cursor, writes = await self.db.write(self._batch(scan, query, moment))
                writes.report()
                done += acted
                if count < self.batch:
                    break
        self.eta_scanned = now
        return done

    def _due_query(
        self, scan: str, now: datetime, horizon: datetime, cursor: _Cursor, eta_from: datetime
    ) -> Any:
        if scan == Scan.DUE:
            column = Ticket.next_update_due
            condition = and_(
                column <= horizon,
                or_(column <= now, Ticket.nudged_for.is_(None), Ticket.nudged_for != column),
            )
        else:
            column = Ticket.eta
            condition = and_(
                column <= now,
                column > eta_from,
                or_(Ticket.eta_apologized.is_(None), Ticket.eta_apologized != column),
            )
        status: Any = Ticket.status
        if self.db.is_sqlite:
            # Without ANALYZE statistics SQLite prefers the status index, which scans every open
            # ticket; `status || ''` rules that index out and leaves the short due/ETA range.
            status = Ticket.status.concat("")
        query = (
            select(TICKETS)
            .where(
                condition,
                status.in_(_ACTIVE),
                cursor.after(column),
                # While linked to an open incident, the incident's promise is the ticket's.
                ~linked_to_open_incident(Ticket.id),
            )
            .order_by(column, Ticket.id)
            .limit(self.batch)
        )
        if not self.db.is_sqlite:
            # Another worker's tickets are skipped, not waited for; it is acting on them.
            query = query.with_for_update(skip_locked=True)
        return query

    def _batch(
        self, scan: Scan, query: Any, moment: _Moment
    ) -> Callable[[Connection], tuple[int, int, _Cursor, Writes]]:
        """One transaction: read the batch and all it needs, act on each ticket, write it all.

        It runs as one piece of plain database work (on SQLite, one hop to the writer thread):
        the tickets are read inside the transaction that writes them, under SQLite's write lock
        or PostgreSQL's row locks, so an agent's reply that landed meanwhile is seen."""

        def work(connection: Connection) -> tuple[int, int, _Cursor, Writes]:
            rows = connection.execute(query).all()
            if not rows:
                return 0, 0, _Cursor(), Writes()
            # Taken before acting: the action moves the very column the batch is sorted by.
            last = rows[-1]
            cursor = _Cursor(last.next_update_due if scan == Scan.DUE else last.eta, last.id)
            tickets = [detached_ticket(row._mapping) for row in rows]
            if not self.db.is_sqlite:
                # Before the cap is counted: another loop acting for the same person waits
                # here until this transaction commits, then counts what it wrote.
                lock_people(connection, [t.requester_id for t in tickets if _may_tell(t, moment)])
            reads = read_batch(connection, tickets, moment.now, self.ctx.triage_targets())
            writes = Writes()
            acted = sum(self._visit(ticket, reads, writes, moment) for ticket in tickets)
            writes.apply(connection)
            return acted, len(rows), cursor, writes

        return work

    def _visit(self, ticket: Ticket, reads: BatchReads, writes: Writes, moment: _Moment) -> int:
        """Act on one ticket; keep what it wrote only if all of it worked out."""
        before = ticket_state(ticket)
        step = Step(self.ctx, ticket, reads, moment.now)
        try:
            acted = self._act(step, moment)
        except Exception:  # a broken template must not stop every other ticket
            log.exception("promise loop: %s failed; the next tick retries", ticket.ref)
            return 0
        after = ticket_state(ticket)
        if after != before:
            step.writes.tickets.append({"ticket_id": ticket.id, **after})
        writes.extend(step.writes)
        if step.told is not None:
            reads.sent[step.told].insert(0, moment.now)
        return acted

    def _act(self, step: Step, moment: _Moment) -> int:
        """Whatever this ticket is owed right now: an apology, an update, a nudge, or nothing."""
        ticket, now = step.ticket, moment.now
        if not is_active(ticket.status):
            return 0
        eta_missed = self.actions.eta_missed(step)
        due = ticket.next_update_due
        update_due = due is not None and due <= now
        if eta_missed or update_due:
            frees_at = step.cap_frees_at()
            if frees_at is not None:
                self.actions.hold(step, frees_at, update_due)
                return 0
            if eta_missed:
                self.actions.apologise(step)
            else:
                self.actions.status_update(step)
            step.refresh_cards(self.ctx.triage_targets())
            return 1
        if due is not None and due <= moment.horizon and ticket.nudged_for != due:
            self.actions.nudge(step, due)
            return 1
        return 0


def _may_tell(ticket: Ticket, moment: _Moment) -> bool:
    """Whether this ticket may get an automatic customer message in this batch (the cap)."""
    due, eta = ticket.next_update_due, ticket.eta
    return (due is not None and due <= moment.now) or (eta is not None and eta <= moment.now)

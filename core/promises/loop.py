"""The promise loop: nudges agents, sends due status updates and apologies for missed ETAs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, true
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from core.context import Context
from core.delivery.enqueue import refresh_cards
from core.promises.actions import PromiseActions
from core.storage.db import Database
from core.storage.models import ACTIVE_STATUSES, Ticket

log = logging.getLogger(__name__)

# Missed ETAs older than this are not looked for after a start: it bounds the index range the
# first scan reads (resolved tickets keep their ETA forever); only an outage this long could leave
# one behind. Later scans read only ETAs that passed since the previous full scan, less a margin
# for transactions that were still committing, so the range does not grow with the history.
ETA_LOOKBACK = timedelta(days=35)
ETA_MARGIN = timedelta(hours=1)
_ACTIVE = [status.value for status in ACTIVE_STATUSES]


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


SQLITE_BATCH = 25


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
        # SMTP and Slack acknowledgements queued behind it, so batches there stay short.
        self.batch = batch or (SQLITE_BATCH if db.is_sqlite else 100)
        self.actions = PromiseActions(ctx)
        self.eta_scanned: datetime | None = None  # `now` of the last tick that finished

    async def tick(self) -> int:
        """Do everything due now; return how many messages and nudges were queued."""
        now = self.ctx.now()
        calendar = self.ctx.calendar
        if not calendar.is_open(now):
            return 0  # automatic messages and nudges wait for the next opening
        horizon = calendar.add(now, self.ctx.settings.reminders.nudge_before)
        eta_from = now - ETA_LOOKBACK
        if self.eta_scanned is not None:
            # An ETA missed earlier was apologised for then, or held by the cap, and a held
            # one comes back through its next_update_due, which _act checks for missed ETAs.
            eta_from = max(eta_from, self.eta_scanned - ETA_MARGIN)
        done = 0
        for kind in ("due", "eta"):
            cursor = _Cursor()
            while True:
                query = self._due_query(kind, now, horizon, cursor, eta_from)
                acted, count, cursor = await self._batch(kind, query, now, horizon, cursor)
                done += acted
                if count < self.batch:
                    break
        self.eta_scanned = now
        return done

    def _due_query(
        self, kind: str, now: datetime, horizon: datetime, cursor: _Cursor, eta_from: datetime
    ) -> Any:
        if kind == "due":
            column = Ticket.next_update_due
            condition = and_(
                column <= horizon,
                or_(
                    column <= now,
                    Ticket.nudged_for.is_(None),
                    Ticket.nudged_for != column,
                ),
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
            select(Ticket)
            .where(condition, status.in_(_ACTIVE), cursor.after(column))
            .order_by(column, Ticket.id)
            .limit(self.batch)
        )
        if not self.db.is_sqlite:
            # Another worker's tickets are skipped, not waited for; it is acting on them.
            query = query.with_for_update(skip_locked=True)
        return query

    async def _batch(
        self, kind: str, query: Any, now: datetime, horizon: datetime, cursor: _Cursor
    ) -> tuple[int, int, _Cursor]:
        acted = 0
        async with self.db.transaction() as session:
            tickets = (await session.scalars(query)).all()
            if tickets:
                # Taken before acting: the action moves the very column the batch is sorted by.
                last = tickets[-1]
                key = last.next_update_due if kind == "due" else last.eta
                cursor = _Cursor(key, last.id)
            for ticket in tickets:
                ref = ticket.ref  # a rolled-back ticket is expired; keep its name for the log
                try:
                    async with session.begin_nested():
                        if self.db.is_sqlite:
                            # SQLite has no row locks: read the ticket again inside the
                            # transaction that will write it, so an agent's reply that landed
                            # since the batch was read is seen (a write racing this one fails
                            # the commit instead, and the next tick retries).
                            await session.refresh(ticket)
                        acted += await self._act(session, ticket, now, horizon)
                except DBAPIError:
                    raise  # the whole batch rolls back; the next tick retries it
                except Exception:  # a broken template must not stop every other ticket
                    log.exception("promise loop: %s failed; the next tick retries", ref)
        return acted, len(tickets), cursor

    async def _act(
        self, session: AsyncSession, ticket: Ticket, now: datetime, horizon: datetime
    ) -> int:
        """Whatever this ticket is owed right now: an apology, an update, a nudge, or nothing."""
        if ticket.status not in _ACTIVE:
            return 0
        eta_missed = await self.actions.eta_missed(session, ticket, now)
        due = ticket.next_update_due
        update_due = due is not None and due <= now
        if eta_missed or update_due:
            frees_at = await self.actions.cap_frees_at(session, ticket, now)
            if frees_at is not None:
                await self.actions.hold(session, ticket, now, frees_at, update_due)
                return 0
            if eta_missed:
                await self.actions.apologise(session, ticket, now)
            else:
                await self.actions.status_update(session, ticket, now)
            await refresh_cards(self.ctx, session, ticket)
            return 1
        if due is not None and due <= horizon and ticket.nudged_for != due:
            await self.actions.nudge(session, ticket, now, due)
            return 1
        return 0

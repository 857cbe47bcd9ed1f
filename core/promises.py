"""The promise loop: nudges agents, sends due status updates and apologies for missed ETAs."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, true
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from core.channel import Audience
from core.context import Context
from core.db import Database
from core.models import ACTIVE_STATUSES, OutboxRow, OutboxStatus, Promise, Ticket
from core.tickets import (
    INTERNAL,
    add_event,
    alert_agents,
    refresh_cards,
    tell_customer,
)

log = logging.getLogger(__name__)

# Missed ETAs older than this are not looked for after a start: it bounds the index range the
# first scan reads (resolved tickets keep their ETA forever); only an outage this long could leave
# one behind. Later scans read only ETAs that passed since the previous full scan, less a margin
# for transactions that were still committing, so the range does not grow with the history.
ETA_LOOKBACK = timedelta(days=35)
ETA_MARGIN = timedelta(hours=1)
_ACTIVE = [status.value for status in ACTIVE_STATUSES]

STATE_WORDS = {
    "new": "received, and waiting for a person to pick it up",
    "open": "open, and being worked on",
    "waiting": "on hold while we wait for someone else",
}


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


class PromiseLoop:
    """One tick finds what is owed through the indexes and does it, one locked batch at a time.

    Everything is state-driven: each action moves the ticket's state (next_update_due,
    nudged_for, eta_apologized) in the same transaction as the outbox row it writes. A tick that
    runs late, twice, after a restart, or in two processes therefore acts once per promise.
    """

    def __init__(self, db: Database, ctx: Context, batch: int = 100) -> None:
        self.db = db
        self.ctx = ctx
        self.batch = batch
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
        eta_missed = await self._eta_missed(session, ticket, now)
        due = ticket.next_update_due
        update_due = due is not None and due <= now
        if eta_missed or update_due:
            frees_at = await self._cap_frees_at(session, ticket, now)
            if frees_at is not None:
                await self._hold(session, ticket, now, frees_at, update_due)
                return 0
            if eta_missed:
                await self._apologise(session, ticket, now)
            else:
                await self._status_update(session, ticket, now)
            await refresh_cards(self.ctx, session, ticket)
            return 1
        if due is not None and due <= horizon and ticket.nudged_for != due:
            await self._nudge(session, ticket, now, due)
            return 1
        return 0

    async def _eta_missed(self, session: AsyncSession, ticket: Ticket, now: datetime) -> bool:
        eta = ticket.eta
        if eta is None or eta > now or ticket.eta_apologized == eta:
            return False
        still_owed = await session.scalar(
            select(Promise.id).where(
                Promise.ticket_id == ticket.id,
                Promise.kind == "eta",
                Promise.settled_at.is_(None),
                Promise.due_at == eta,
            )
        )
        if still_owed is None:
            # That ETA was already settled (kept, or replaced while it was still ahead, or
            # answered by the resolution before a reopen): no apology is owed for it.
            ticket.eta_apologized = eta
            return False
        return True

    async def _cap_frees_at(
        self, session: AsyncSession, ticket: Ticket, now: datetime
    ) -> datetime | None:
        """None while this person may get another automatic message, else when they may.

        The cap counts what automatic_today counts, over a rolling 24 hours: with the last
        `cap` of them in hand, the cap frees when the oldest of those leaves the window.
        """
        cap = self.ctx.settings.reminders.max_automatic_per_day
        recent = (
            await session.scalars(
                select(OutboxRow.created_at)
                .where(
                    OutboxRow.contact_id == ticket.requester_id,
                    OutboxRow.automatic.is_(True),
                    OutboxRow.created_at > now - timedelta(days=1),
                    OutboxRow.audience == Audience.CUSTOMER.value,
                    OutboxRow.kind != "ack",
                    OutboxRow.status != OutboxStatus.CANCELLED.value,
                )
                .order_by(OutboxRow.created_at.desc())
                .limit(cap)
            )
        ).all()
        if len(recent) < cap:
            return None
        return self.ctx.calendar.next_open(recent[-1] + timedelta(days=1))

    async def _hold(
        self,
        session: AsyncSession,
        ticket: Ticket,
        now: datetime,
        frees_at: datetime,
        update_due: bool,
    ) -> None:
        """The cap is reached: move the owed message to when it frees, and say so honestly."""
        if update_due:
            # The customer was told "by then" and will not hear from us: a broken promise.
            await _settle(session, ticket.id, "next_update", now, "cap", kept=False)
            session.add(
                Promise(ticket_id=ticket.id, kind="next_update", due_at=frees_at, made_at=now)
            )
        elif ticket.next_update_due is not None and ticket.next_update_due <= frees_at:
            return  # the owed apology goes with the next update, which is due by then anyway
        ticket.next_update_due = frees_at
        cap = self.ctx.settings.reminders.max_automatic_per_day
        what = "apology for the missed ETA" if not update_due else "status update"
        text = (
            f"Automatic {what} held back: this customer already had {cap} automatic messages "
            f"in the last 24 hours. It goes out {self.ctx.texts.when(frees_at)} unless someone "
            "writes to them first."
        )
        await add_event(session, ticket, "capped", text, now, visibility=INTERNAL, author="tidings")
        log.info("%s: %s", ticket.ref, text)

    async def _status_update(self, session: AsyncSession, ticket: Ticket, now: datetime) -> None:
        await self._settle_on_time(session, ticket, now, "status_update")
        await tell_customer(
            self.ctx, session, ticket, "status_update", "status_update", author="tidings",
            automatic=True, **_story(ticket),
        )  # fmt: skip

    async def _apologise(self, session: AsyncSession, ticket: Ticket, now: datetime) -> None:
        missed = ticket.eta
        assert missed is not None
        await _settle(session, ticket.id, "eta", now, "apology", kept=False)
        ticket.eta_apologized = missed
        if ticket.next_update_due is not None and ticket.next_update_due <= now:
            await self._settle_on_time(session, ticket, now, "apology")
        story = _story(ticket)
        await tell_customer(
            self.ctx, session, ticket, "apology", "apology", author="tidings", automatic=True,
            missed_eta=missed, new_eta=None, **story,
        )  # fmt: skip
        text = self.ctx.texts.render(
            "eta_missed_agents", ref=ticket.ref, missed_eta=missed, now=now, **story
        )
        await add_event(session, ticket, "eta_missed", text, now, visibility=INTERNAL,
                        author="tidings")  # fmt: skip
        await alert_agents(self.ctx, session, ticket, "alert", text)
        log.info("%s: ETA %s missed; apology queued, agents asked", ticket.ref, missed)

    async def _nudge(
        self, session: AsyncSession, ticket: Ticket, now: datetime, due: datetime
    ) -> None:
        ticket.nudged_for = due
        minutes = math.ceil(self.ctx.calendar.business_seconds_between(now, due) / 60)
        text = self.ctx.texts.render(
            "nudge", ref=ticket.ref, subject=ticket.subject, due=due, minutes=minutes, now=now,
            **_story(ticket),
        )  # fmt: skip
        await add_event(session, ticket, "nudge", text, now, visibility=INTERNAL, author="tidings")
        await alert_agents(self.ctx, session, ticket, "nudge", text)
        log.info("%s: nudge, automatic update due %s", ticket.ref, due.isoformat())

    async def _settle_on_time(
        self, session: AsyncSession, ticket: Ticket, now: datetime, by: str
    ) -> None:
        """The loop keeps a next-update promise when it acts within one tick of the due time."""
        grace = self.ctx.settings.reminders.tick
        for promise in await _open_promises(session, ticket.id, "next_update"):
            promise.kept = now <= promise.due_at + grace
            promise.settled_at = now
            promise.settled_by = by


def _story(ticket: Ticket) -> dict[str, Any]:
    """What a status text needs beyond what tell_customer passes itself (no query: this runs
    for every reminder, and the ticket row has it all)."""
    return {
        "state": STATE_WORDS.get(ticket.status, ticket.status),
        "status": ticket.status,
        "assignee": ticket.assignee or "",
    }


async def _open_promises(session: AsyncSession, ticket_id: int, kind: str) -> list[Promise]:
    query = select(Promise).where(
        Promise.ticket_id == ticket_id, Promise.kind == kind, Promise.settled_at.is_(None)
    )
    return list((await session.scalars(query)).all())


async def _settle(
    session: AsyncSession, ticket_id: int, kind: str, now: datetime, by: str, *, kept: bool
) -> None:
    for promise in await _open_promises(session, ticket_id, kind):
        promise.kept = kept
        promise.settled_at = now
        promise.settled_by = by

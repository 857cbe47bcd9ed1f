"""What the loop does to one locked ticket: apologise, update, nudge, or hold for the cap."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Audience
from core.context import Context
from core.delivery.enqueue import alert_agents
from core.storage.models import OutboxRow, OutboxStatus, Promise, Ticket
from core.tickets.timeline import INTERNAL, add_event, tell_customer

log = logging.getLogger("core.promises")

STATE_WORDS = {
    "new": "received, and waiting for a person to pick it up",
    "open": "open, and being worked on",
    "waiting": "on hold while we wait for someone else",
}


class PromiseActions:
    """Each method changes the ticket's promise state together with the message it queues."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def eta_missed(self, session: AsyncSession, ticket: Ticket, now: datetime) -> bool:
        """Whether the ETA has passed with its apology still owed."""
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

    async def cap_frees_at(
        self, session: AsyncSession, ticket: Ticket, now: datetime
    ) -> datetime | None:
        """None while this person may get another automatic message, else when they may.

        The cap counts automatic customer messages (acks excepted) over a rolling 24 hours:
        with the last `cap` of them in hand, it frees when the oldest leaves the window.
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

    async def hold(
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

    async def status_update(self, session: AsyncSession, ticket: Ticket, now: datetime) -> None:
        await self.settle_on_time(session, ticket, now, "status_update")
        await tell_customer(
            self.ctx, session, ticket, "status_update", "status_update", author="tidings",
            automatic=True, **_story(ticket),
        )  # fmt: skip

    async def apologise(self, session: AsyncSession, ticket: Ticket, now: datetime) -> None:
        missed = ticket.eta
        assert missed is not None
        await _settle(session, ticket.id, "eta", now, "apology", kept=False)
        ticket.eta_apologized = missed
        if ticket.next_update_due is not None and ticket.next_update_due <= now:
            await self.settle_on_time(session, ticket, now, "apology")
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

    async def nudge(
        self, session: AsyncSession, ticket: Ticket, now: datetime, due: datetime
    ) -> None:
        ticket.nudged_for = due
        minutes = math.ceil(self.ctx.calendar.business_seconds_between(now, due) / 60)
        text = self.ctx.texts.render(
            "nudge", ref=ticket.ref, subject=ticket.subject, due=due, minutes=minutes, now=now,
            business_hours=not self.ctx.calendar.always_open,
            **_story(ticket),
        )  # fmt: skip
        await add_event(session, ticket, "nudge", text, now, visibility=INTERNAL, author="tidings")
        await alert_agents(self.ctx, session, ticket, "nudge", text)
        log.info("%s: nudge, automatic update due %s", ticket.ref, due.isoformat())

    async def settle_on_time(
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

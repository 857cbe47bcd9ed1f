"""What the loop does for one ticket: apologise, update, nudge, or hold for the cap."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any

from core.context import Context
from core.promises.kinds import LoopEvent, PromiseKind, Settled
from core.promises.step import Step
from core.storage.models import EventKind, Status, Ticket

log = logging.getLogger("core.promises")

STATE_WORDS: dict[str, str] = {
    Status.NEW: "received, and waiting for a person to pick it up",
    Status.OPEN: "open, and being worked on",
    Status.WAITING: "on hold while we wait for someone else",
}


class PromiseActions:
    """Each method changes the ticket's promise state together with the message it queues."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def eta_missed(self, step: Step) -> bool:
        """Whether the ETA has passed with its apology still owed."""
        ticket = step.ticket
        eta = ticket.eta
        if eta is None or eta > step.now or ticket.eta_apologized == eta:
            return False
        if not any(p.due_at == eta for p in step.reads.open(ticket.id, PromiseKind.ETA)):
            # That ETA was already settled (kept, or replaced while it was still ahead, or
            # answered by the resolution before a reopen): no apology is owed for it.
            ticket.eta_apologized = eta
            return False
        return True

    def hold(self, step: Step, frees_at: datetime, update_due: bool) -> None:
        """The cap is reached: move the owed message to when it frees, and say so honestly."""
        ticket = step.ticket
        if update_due:
            # The customer was told "by then" and will not hear from us: a broken promise.
            step.settle(PromiseKind.NEXT_UPDATE, Settled.CAP, lambda _due: False)
            step.promise(PromiseKind.NEXT_UPDATE, frees_at)
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
        step.add_event(LoopEvent.CAPPED, text)
        log.info("%s: %s", ticket.ref, text)

    def status_update(self, step: Step) -> None:
        due = step.ticket.next_update_due
        if due is not None:
            step.happened("status_update", PromiseKind.NEXT_UPDATE, due, "status update queued")
        self.settle_on_time(step, Settled.STATUS_UPDATE)
        step.tell(EventKind.STATUS_UPDATE, **_story(step.ticket))

    def apologise(self, step: Step) -> None:
        ticket, now = step.ticket, step.now
        missed = ticket.eta
        assert missed is not None
        step.settle(PromiseKind.ETA, Settled.APOLOGY, lambda _due: False)
        ticket.eta_apologized = missed
        if ticket.next_update_due is not None and ticket.next_update_due <= now:
            self.settle_on_time(step, Settled.APOLOGY)
        story = _story(ticket)
        step.tell(EventKind.APOLOGY, missed_eta=missed, new_eta=None, **story)
        text = self.ctx.texts.render(
            LoopEvent.ETA_MISSED_AGENTS, ref=ticket.ref, missed_eta=missed, now=now, **story
        )
        step.add_event(LoopEvent.ETA_MISSED, text)
        step.alert(LoopEvent.ALERT, text, self.ctx.triage_targets(ticket.assignee))
        step.happened("apology", PromiseKind.ETA, missed, "ETA missed; apology queued")

    def nudge(self, step: Step, due: datetime) -> None:
        ticket, now, calendar = step.ticket, step.now, self.ctx.calendar
        ticket.nudged_for = due
        minutes = math.ceil(calendar.business_seconds_between(now, due) / 60)
        text = self.ctx.texts.render(
            EventKind.NUDGE, ref=ticket.ref, subject=ticket.subject, due=due, minutes=minutes,
            now=now, business_hours=not calendar.always_open, **_story(ticket),
        )  # fmt: skip
        step.add_event(EventKind.NUDGE, text)
        step.alert(EventKind.NUDGE, text, self.ctx.triage_targets(ticket.assignee))
        step.happened("nudge", PromiseKind.NEXT_UPDATE, due, "nudge, automatic update due")

    def settle_on_time(self, step: Step, by: Settled) -> None:
        """The loop keeps a next-update promise when it acts within one tick of the due time."""
        grace, now = self.ctx.settings.reminders.tick, step.now
        step.settle(PromiseKind.NEXT_UPDATE, by, lambda due_at: now <= due_at + grace)


def _story(ticket: Ticket) -> dict[str, Any]:
    """What a status text needs beyond what public_text passes itself (the row has it all)."""
    return {
        "state": STATE_WORDS.get(ticket.status, ticket.status),
        "status": ticket.status,
        "assignee": ticket.assignee or "",
    }

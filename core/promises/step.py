"""One ticket's turn in a batch: its promise bookkeeping and the messages it queues, in memory."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.channel import Audience, OutboundMessage, ReplyTarget
from core.context import Context
from core.delivery.cards import is_mailbox
from core.delivery.enqueue import (
    card_for,
    card_title,
    decode_message,
    encode_message,
    outbox_values,
)
from core.promises.cap import frees_at
from core.promises.kinds import PromiseKind
from core.promises.reads import BatchReads
from core.promises.writes import Writes
from core.storage.models import OutboxKind, Ticket, Visibility
from core.tickets.timeline import customer_message, event_values, known_page_link, public_text

AUTHOR = "tidings"


@dataclass
class Step:
    """Changes `ticket` (a detached copy of its row) and gathers the rows it owes in `writes`.

    Nothing reaches the database unless the whole step succeeds: a broken template leaves the
    ticket as it was, without a savepoint."""

    ctx: Context
    ticket: Ticket
    reads: BatchReads
    now: datetime
    writes: Writes = field(default_factory=Writes)
    told: int | None = None  # the person this step sent an automatic customer message to
    # For a ticket linked to an open incident: the incident's next update time, which replaces
    # the ticket's own cadence (core/promises/incident_pass.py).
    next_due: datetime | None = None

    def cap_frees_at(self, extra: int = 0) -> datetime | None:
        """None while this person may get another automatic message (with `extra` more sent
        now), else when they may: when the oldest of the last `cap` leaves the rolling day."""
        cap = self.ctx.settings.reminders.max_automatic_per_day
        person = self.reads.person(self.ticket.requester_id)
        recent = [self.now] * extra + self.reads.sent.get(person, [])
        return frees_at(recent, cap, self.ctx.calendar)

    def settle(self, kind: PromiseKind, by: str, kept: Callable[[datetime], bool | None]) -> None:
        """Close this ticket's open promises of `kind`; `kept` judges each by its due time."""
        still_open = self.reads.promises.get(self.ticket.id, [])
        for promise in [p for p in still_open if p.kind == kind]:
            still_open.remove(promise)
            result = kept(promise.due_at)
            self.writes.settled.append(
                {"promise_id": promise.id, "kept": result, "settled_at": self.now,
                 "settled_by": by}
            )  # fmt: skip
            self.writes.counted.append((kind, result))

    def happened(self, action: str, kind: PromiseKind, due: datetime, message: str) -> None:
        """A promise action's log line, written once the batch has committed (no text: the
        message may quote the customer's subject)."""
        fields = {"event": f"promise.{action}", "ticket": self.ticket.ref, "kind": kind.value,
                  "due": due.isoformat()}  # fmt: skip
        self.writes.happened.append((f"{self.ticket.ref}: {message}", fields))

    def promise(self, kind: PromiseKind, due: datetime) -> None:
        self.writes.promises.append(
            {"ticket_id": self.ticket.id, "kind": kind.value, "due_at": due, "made_at": self.now,
             "kept": None, "settled_at": None, "settled_by": ""}
        )  # fmt: skip

    def add_event(
        self, kind: str, text: str, visibility: Visibility = Visibility.INTERNAL, channel: str = ""
    ) -> int:
        self.ticket.updated_at = self.now
        return self.writes.event(
            event_values(self.ticket.id, kind, text, self.now, visibility=visibility,
                         author=AUTHOR, channel=channel)
        )  # fmt: skip

    def tell(self, kind: str, render: str = "", send: bool = True, **context: Any) -> None:
        """An automatic public update: settle the promise it answers, promise the next, queue it.

        `render` names the template when it is not the kind's own; `send=False` records the
        update on the timeline without a message (the person was told on another ticket)."""
        ticket, now = self.ticket, self.now
        self.settle(PromiseKind.NEXT_UPDATE, kind, lambda due_at: due_at >= now)
        due = self.next_due or self.ctx.next_update_due(ticket.priority, ticket.status, now)
        frees_at = self.cap_frees_at(extra=1 if send else 0)
        if frees_at is not None:
            # The last message the cap allows for now: promise only a time we may keep.
            due = max(due, frees_at)
        ticket.next_update_due, ticket.nudged_for, ticket.last_public_at = due, None, now
        self.promise(PromiseKind.NEXT_UPDATE, due)
        text = public_text(self.ctx, ticket, render or kind, due, AUTHOR, now, **context)
        event = self.add_event(kind, text, Visibility.PUBLIC, channel=ticket.reply_channel)
        if send:
            self._to_customer(kind, text, event)

    def _to_customer(self, kind: str, text: str, event: int) -> None:
        """Queue `text` on the customer's channel, in their conversation's thread."""
        ticket = self.ticket
        on_channel = [
            (external_id, event_kind)
            for channel, external_id, event_kind in self.reads.thread.get(ticket.id, [])
            if channel == ticket.reply_channel
        ]
        said = customer_message(
            ticket, kind, text, self.now, author=AUTHOR, automatic=True, conversation=on_channel,
            page_link=known_page_link(self.ctx, ticket.id),
        )  # fmt: skip
        # Our own message ids must lead back to this ticket even before delivery confirms them.
        self.writes.refs.append(
            {"channel": ticket.reply_channel, "key": said.token, "ticket_id": ticket.id}
        )
        self.writes.outbox.append((said.outbox, event))
        self.told = self.reads.person(ticket.requester_id)

    def alert(self, kind: str, text: str, targets: list[ReplyTarget]) -> None:
        """An internal message to every triage channel."""
        for target in targets:
            self._to_agents(target, kind, text, None)

    def refresh_cards(self, targets: list[ReplyTarget]) -> None:
        """A card update in each triage channel; an unsent update is replaced, not added."""
        if not targets:
            return
        ticket = self.ticket
        requester = self.reads.names.get(ticket.requester_id, "")
        reads = self.reads
        card = card_for(ticket, requester, reads.first_message.get(ticket.id, ""),
                        reads.latest_message.get(ticket.id),
                        reads.similar.get(ticket.id, ()))  # fmt: skip
        for target in targets:
            if is_mailbox(target.channel):
                continue  # a mailbox had its card when the ticket opened; mail is not edited
            pending = self.reads.pending_cards.get((ticket.id, target.channel))
            if pending is None:
                self._to_agents(target, OutboxKind.CARD, card_title(ticket), card)
                continue
            row_id, raw = pending
            message = decode_message(raw)
            replaced = OutboundMessage(**{**message.__dict__, "card": card})
            self.writes.cards.append({"card_id": row_id, "message": encode_message(replaced)})

    def _to_agents(self, target: ReplyTarget, kind: str, text: str, card: Any) -> None:
        values = outbox_values(
            self.ticket, target, kind=kind, text=text, automatic=True, token=uuid.uuid4().hex,
            now=self.now, event_id=None, audience=Audience.AGENTS, card=card, in_reply_to="",
            references=(),
        )  # fmt: skip
        self.writes.outbox.append((values, None))

"""Opening tickets: one statement per table for a whole chunk of new conversations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Audience, InboundMessage
from core.context import Context
from core.delivery.cards import card_kind, card_text
from core.delivery.digest import digest_periods, hold_for_digest
from core.delivery.enqueue import LastWord, card_for, outbox_values
from core.intake.ack_limits import AckLimits, read_ack_limits
from core.pages.tokens import insert_tokens, page_links
from core.promises.cap import DaySent, frees_at, read_day
from core.storage.models import (
    AttachmentRow,
    Base,
    Contact,
    EventKind,
    OutboxRow,
    Promise,
    Status,
    Ticket,
    TicketEvent,
    TicketRef,
    Visibility,
    table_of,
)
from core.tickets.refs import insert_ignore, repoint_keys
from core.tickets.timeline import (
    contact_upsert,
    customer_message,
    event_values,
    page_link,
    public_text,
)

_SUBJECT_MAX = 200


@dataclass(frozen=True)
class NewTicket:
    """A message that opens a ticket; `linked` is the closed ticket it follows up on."""

    message: InboundMessage
    linked: Ticket | None = None


def subject_of(message: InboundMessage) -> str:
    subject = message.subject.strip()
    if not subject:
        source = message.fields.get("what", "") if message.fields else ""
        source = source or message.text
        first = next((line.strip() for line in source.splitlines() if line.strip()), "")
        subject = first
    if len(subject) > _SUBJECT_MAX:
        subject = subject[: _SUBJECT_MAX - 1].rstrip() + "…"
    return subject or "(no subject)"


def body_of(ctx: Context, message: InboundMessage) -> str:
    if not message.fields:
        return message.text
    labels = {field.name: field.label for field in ctx.settings.intake.fields}
    parts = [
        f"{labels.get(name, name)}\n{answer}" for name, answer in message.fields.items() if answer
    ]
    if message.text:
        parts.append(message.text)
    return "\n\n".join(parts)


def priority_of(ctx: Context, message: InboundMessage) -> str:
    if message.priority in ("urgent", "high", "normal", "low"):
        return message.priority
    impact = message.fields.get("impact", "") if message.fields else ""
    return ctx.settings.intake.impact_priority.get(impact, "normal")


def author_of(message: InboundMessage) -> str:
    return (message.sender.name or message.sender.address)[:200]


def allocate_ids(connection: Connection, model: type[Base], count: int) -> list[int]:
    """Reserve `count` primary keys, so many rows can be inserted by one executemany and still
    be referred to (SQLAlchemy can only return ordered ids from SQLite one row at a time)."""
    if count == 0:
        return []
    table = table_of(model)
    if connection.dialect.name == "postgresql":
        rows = connection.scalars(
            text(
                f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id'))"
                " FROM generate_series(1, :count)"
            ),
            {"count": count},
        )
        return sorted(rows.all())
    # SQLite: the transaction began with BEGIN IMMEDIATE, so no other writer can take these;
    # max(id) + 1 is what SQLite itself would pick for an INTEGER PRIMARY KEY.
    top = connection.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table.name}"))
    return list(range(int(top or 0) + 1, int(top or 0) + 1 + count))


def upsert_contacts(
    connection: Connection, senders: Sequence[tuple[str, str, str]], now: datetime
) -> dict[tuple[str, str], tuple[int, str]]:
    """Every (channel, address, name) sender's contact: (id, name), created or name refreshed."""
    latest: dict[tuple[str, str], str] = {}
    for channel, address, name in senders:
        # In arrival order, as one at a time would: the last name given wins, unless empty.
        if name or (channel, address) not in latest:
            latest[(channel, address)] = name[:200]
    connection.execute(
        contact_upsert(connection.dialect.name),
        [{"channel": channel, "address": address, "name": name, "created_at": now}
         for (channel, address), name in latest.items()],
    )  # fmt: skip
    rows = connection.execute(
        select(Contact.id, Contact.channel, Contact.address, Contact.name).where(
            tuple_(Contact.channel, Contact.address).in_(list(latest))
        )
    )
    return {(row.channel, row.address): (row.id, row.name) for row in rows}


async def open_tickets(
    ctx: Context, session: AsyncSession, items: Sequence[NewTicket]
) -> list[int]:
    """`open_tickets_now` inside the session's transaction."""
    connection = await session.connection()
    return await connection.run_sync(lambda sync: open_tickets_now(ctx, sync, items))


def open_tickets_now(ctx: Context, connection: Connection, items: Sequence[NewTicket]) -> list[int]:
    """Open one ticket per item, acknowledge each on its channel and queue its triage cards.

    A handful of Core statements for the whole list. Tickets whose conversation keys overlap
    must not share a call: the keys are registered only after all tickets exist."""
    if not items:
        return []
    now = ctx.now()
    senders = [(i.message.sender.channel, i.message.sender.address, i.message.sender.name)
               for i in items]  # fmt: skip
    contacts = upsert_contacts(connection, senders, now)
    ticket_ids = allocate_ids(connection, Ticket, len(items))
    per_ticket = [2 + (item.linked is not None) + bool(item.message.for_a_person) for item in items]
    limits = read_ack_limits(connection, [item.message for item in items], now,
                             ctx.settings.intake.acks_per_address_per_hour)  # fmt: skip
    day = read_day(connection, {contact for contact, _ in contacts.values()}, now)
    rows = _Rows(ctx, now, iter(allocate_ids(connection, TicketEvent, sum(per_ticket))), limits,
                 day)  # fmt: skip
    for item, ticket_id in zip(items, ticket_ids, strict=True):
        sender = item.message.sender
        rows.add(item, ticket_id, *contacts[(sender.channel, sender.address)])
    rows.insert(connection)
    return ticket_ids


class _Rows:
    """The rows of many new tickets, table by table, for one executemany per table."""

    def __init__(
        self, ctx: Context, now: datetime, event_ids: Iterator[int], limits: AckLimits,
        day: DaySent,
    ) -> None:  # fmt: skip
        self.ctx, self.now, self.event_ids, self.limits, self.day = ctx, now, event_ids, limits, day
        self.triage = ctx.triage_targets()
        self.digests = digest_periods(ctx.settings)  # mailboxes whose new tickets wait
        self.links = page_links(ctx.settings)
        self.tokens: list[dict[str, Any]] = []
        self.tickets: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.attachments: list[dict[str, Any]] = []
        self.refs: list[dict[str, Any]] = []
        self.promises: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.moves: list[tuple[str, tuple[str, ...], int]] = []

    def add(self, item: NewTicket, ticket_id: int, requester_id: int, requester: str) -> None:
        ctx, now, message = self.ctx, self.now, item.message
        target = message.reply_target
        priority = priority_of(ctx, message)
        acked = self.limits.take((target.channel, target.address))
        due = self._first_update_due(requester_id, ctx.next_update_due(priority, Status.NEW, now),
                                     acked)  # fmt: skip
        values = {
            "id": ticket_id, "status": Status.NEW.value, "priority": priority,
            "subject": subject_of(message), "requester_id": requester_id,
            "reply_channel": target.channel, "reply_address": target.address,
            "reply_thread": target.thread, "waiting_on": "",
            "linked_ticket_id": item.linked.id if item.linked is not None else None,
            "created_at": now, "updated_at": now, "next_update_due": due, "last_public_at": now,
        }  # fmt: skip
        self.tickets.append(values)
        ticket = Ticket(**values)  # never added to a session: only read to render texts
        if item.linked is not None:
            self.moves.append((message.channel, message.thread_keys, ticket_id))
            note = f"Follows up on closed ticket {item.linked.ref}."
            self._event(event_values(ticket_id, EventKind.NOTE, note, now,
                                     visibility=Visibility.INTERNAL, author="tidings"))  # fmt: skip
        if message.for_a_person:
            self._event(event_values(ticket_id, EventKind.NOTE, message.for_a_person, now,
                                     visibility=Visibility.INTERNAL, author="tidings"))  # fmt: skip
        body = body_of(ctx, message)
        said = self._event(event_values(ticket_id, EventKind.CUSTOMER_MESSAGE, body, now,
                                        author=author_of(message), channel=message.channel,
                                        external_id=message.external_id))  # fmt: skip
        self.attachments.extend(
            {"ticket_id": ticket_id, "event_id": said, "name": attachment.name,
             "content_type": attachment.content_type, "size": attachment.size,
             "stored_at": attachment.stored_at}
            for attachment in message.attachments
        )  # fmt: skip
        self.refs.extend(
            {"channel": message.channel, "key": key, "ticket_id": ticket_id}
            for key in sorted({message.external_id, *message.thread_keys} - {""})
        )
        self.promises.append({"ticket_id": ticket_id, "kind": "next_update", "due_at": due,
                              "made_at": now, "settled_by": ""})  # fmt: skip
        url = ""
        if self.links is not None:
            self.tokens.append(self.links.row(ticket_id, now))
            url = self.links.url(ticket_id)
        self._acknowledge(ticket, message, due, url, acked)
        said_at = LastWord("", now, author_of(message))  # the first message: excerpt shows it
        card = card_for(ticket, requester or message.sender.address, body, said_at)
        self.outbox.extend(
            hold_for_digest(self.digests, outbox_values(
                ticket, place, kind=card_kind(place), text=card_text(ticket, place, body),
                automatic=True, token=uuid.uuid4().hex, now=now, event_id=None,
                audience=Audience.AGENTS, card=card, in_reply_to="", references=()))
            for place in self.triage
        )  # fmt: skip

    def _event(self, values: dict[str, Any]) -> int:
        event_id = next(self.event_ids)
        self.events.append({"id": event_id, **values})
        return event_id

    def _first_update_due(self, requester_id: int, due: datetime, acked: bool) -> datetime:
        """When the acknowledgement promises the first update: the cadence's time, or later if
        the person's daily cap on automatic messages (the acknowledgement counts) is full by
        then, so that the first thing the cap would hold back is never a promised update."""
        person = self.day.person(requester_id)
        if acked:
            self.day.sent[person].insert(0, self.now)
        cap = self.ctx.settings.reminders.max_automatic_per_day
        frees = frees_at(self.day.sent[person], cap, self.ctx.calendar)
        return max(due, frees) if frees is not None else due

    def _acknowledge(
        self, ticket: Ticket, message: InboundMessage, due: datetime, url: str, acked: bool
    ) -> None:
        """The acknowledgement, built as every other customer message is, within the limits
        on acknowledgements (see core/intake/ack_limits.py)."""
        target = (ticket.reply_channel, ticket.reply_address)
        if not acked:
            note = (
                f"No acknowledgement sent: {ticket.reply_address} already had "
                f"{self.limits.per_hour} in the last hour (intake.acks_per_address_per_hour)."
            )
            self._event(
                event_values(
                    ticket.id,
                    EventKind.NOTE,
                    note,
                    self.now,
                    visibility=Visibility.INTERNAL,
                    author="tidings",
                )
            )
            return
        # To an address that only a Reply-To named, we say nothing the sender wrote.
        quoted = {} if self.limits.may_quote(target) else {"subject": ""}
        name = message.sender.name if self.limits.may_quote(target) else ""
        ack = public_text(self.ctx, ticket, EventKind.ACK, due, "tidings", self.now,
                          name=name, **quoted)  # fmt: skip
        same_channel = message.channel == ticket.reply_channel and message.external_id
        said = customer_message(
            ticket, EventKind.ACK, ack, self.now, author="tidings", automatic=True,
            conversation=[(message.external_id, EventKind.CUSTOMER_MESSAGE)] if same_channel
            else [],
            event_id=next(self.event_ids), page_link=page_link(self.ctx, url),
        )  # fmt: skip
        self.events.append({"id": said.outbox["event_id"], **said.event})
        self.outbox.append(said.outbox)
        self.refs.append({"channel": ticket.reply_channel, "key": said.token,
                          "ticket_id": ticket.id})  # fmt: skip

    def insert(self, connection: Connection) -> None:
        # Core executemany on the tables (not the ORM's bulk path): nothing here needs the
        # identity map, and each is one cached statement for the whole list.
        connection.execute(insert(table_of(Ticket)), self.tickets)
        for channel, keys, ticket_id in self.moves:
            # The closed ticket's conversation keys now lead here (rare: one at a time); keys
            # not known yet are among `refs` below.
            if keys:
                connection.execute(repoint_keys(channel, keys, ticket_id))
        for model, rows in ((TicketEvent, self.events), (AttachmentRow, self.attachments),
                            (Promise, self.promises), (OutboxRow, self.outbox)):  # fmt: skip
            if rows:
                connection.execute(insert(table_of(model)), rows)
        if self.tokens:
            connection.execute(insert_tokens(connection.dialect.name), self.tokens)
        connection.execute(
            insert_ignore(connection.dialect.name)(table_of(TicketRef)).on_conflict_do_nothing(),
            _first_claims(self.refs),
        )


def _first_claims(refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (channel, key): the first ticket to claim a key keeps it."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for ref in refs:
        seen.setdefault((ref["channel"], ref["key"]), ref)
    return list(seen.values())

"""Opening tickets: one statement per table for a whole chunk of new conversations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Audience, InboundMessage
from core.context import Context
from core.delivery.enqueue import card_for, card_title, outbox_values, thread_refs
from core.storage.models import (
    AttachmentRow,
    Base,
    Contact,
    OutboxRow,
    Promise,
    Status,
    Ticket,
    TicketEvent,
    TicketRef,
    table_of,
)
from core.tickets.refs import insert_ignore, repoint_keys
from core.tickets.timeline import INTERNAL, PUBLIC, contact_upsert, event_values, public_text

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

    A handful of Core statements for the whole list, and synchronous, so that on SQLite the
    inbox can run a whole chunk in one trip to the writer thread. Tickets whose conversation
    keys overlap must not share a call: the keys are registered only after all tickets exist."""
    if not items:
        return []
    now = ctx.now()
    senders = [(i.message.sender.channel, i.message.sender.address, i.message.sender.name)
               for i in items]  # fmt: skip
    contacts = upsert_contacts(connection, senders, now)
    ticket_ids = allocate_ids(connection, Ticket, len(items))
    per_ticket = [3 if item.linked is not None else 2 for item in items]
    event_ids = iter(allocate_ids(connection, TicketEvent, sum(per_ticket)))
    tickets: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []
    refs: list[dict[str, Any]] = []
    promises: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    moves: list[tuple[str, tuple[str, ...], int]] = []
    triage = ctx.triage_targets()
    for item, ticket_id in zip(items, ticket_ids, strict=True):
        message, target = item.message, item.message.reply_target
        requester_id, requester_name = contacts[(message.sender.channel, message.sender.address)]
        priority = priority_of(ctx, message)
        due = ctx.next_update_due(priority, Status.NEW.value, now)
        values = {
            "id": ticket_id, "status": Status.NEW.value, "priority": priority,
            "subject": subject_of(message), "requester_id": requester_id,
            "reply_channel": target.channel, "reply_address": target.address,
            "reply_thread": target.thread, "waiting_on": "",
            "linked_ticket_id": item.linked.id if item.linked is not None else None,
            "created_at": now, "updated_at": now, "next_update_due": due, "last_public_at": now,
        }  # fmt: skip
        tickets.append(values)
        ticket = Ticket(**values)  # never added to the session: only read to render texts
        if item.linked is not None:
            moves.append((message.channel, message.thread_keys, ticket_id))
            events.append(_event(next(event_ids), ticket_id, "note", now, visibility=INTERNAL,
                                 text=f"Follows up on closed ticket {item.linked.ref}.",
                                 author="tidings"))  # fmt: skip
        body = body_of(ctx, message)
        message_event = next(event_ids)
        events.append(_event(message_event, ticket_id, "customer_message", now, text=body,
                             author=author_of(message), channel=message.channel,
                             external_id=message.external_id))  # fmt: skip
        attachments.extend(
            {"ticket_id": ticket_id, "event_id": message_event, "name": attachment.name,
             "content_type": attachment.content_type, "size": attachment.size,
             "stored_at": attachment.stored_at}
            for attachment in message.attachments
        )  # fmt: skip
        refs.extend(
            {"channel": message.channel, "key": key, "ticket_id": ticket_id}
            for key in sorted({message.external_id, *message.thread_keys} - {""})
        )
        promises.append({"ticket_id": ticket_id, "kind": "next_update", "due_at": due,
                         "made_at": now, "settled_by": ""})  # fmt: skip
        # The acknowledgement: what tell_customer does for one ticket, as rows.
        ack = public_text(ctx, ticket, "ack", due, "tidings", now, name=message.sender.name)
        ack_event = next(event_ids)
        events.append(_event(ack_event, ticket_id, "ack", now, text=ack, author="tidings",
                             channel=target.channel))  # fmt: skip
        on_channel = [(message.external_id, "customer_message")]
        in_reply_to, references = thread_refs(
            on_channel if message.channel == target.channel and message.external_id else []
        )
        token = uuid.uuid4().hex
        refs.append({"channel": target.channel, "key": token, "ticket_id": ticket_id})
        outbox.append(
            outbox_values(ticket, target, kind="ack", text=ack, automatic=True, token=token,
                          now=now, event_id=ack_event, audience=Audience.CUSTOMER, card=None,
                          in_reply_to=in_reply_to, references=references)
        )  # fmt: skip
        card = card_for(ticket, requester_name or message.sender.address, body)
        outbox.extend(
            outbox_values(ticket, place, kind="card", text=card_title(ticket), automatic=True,
                          token=uuid.uuid4().hex, now=now, event_id=None,
                          audience=Audience.AGENTS, card=card, in_reply_to="", references=())
            for place in triage
        )  # fmt: skip
    # Core executemany on the tables (not the ORM's bulk path): nothing here needs the
    # identity map, and each is one cached statement for the whole list.
    connection.execute(insert(table_of(Ticket)), tickets)
    for channel, keys, ticket_id in moves:
        # The closed ticket's conversation keys now lead here (rare: one at a time); keys
        # not known yet are among `refs` below.
        if keys:
            connection.execute(repoint_keys(channel, keys, ticket_id))
    for model, rows in ((TicketEvent, events), (AttachmentRow, attachments), (Promise, promises),
                        (OutboxRow, outbox)):  # fmt: skip
        if rows:
            connection.execute(insert(table_of(model)), rows)
    connection.execute(
        insert_ignore(connection.dialect.name)(table_of(TicketRef)).on_conflict_do_nothing(),
        _first_claims(refs),
    )
    return ticket_ids


def _event(
    event_id: int,
    ticket_id: int,
    kind: str,
    now: datetime,
    *,
    text: str,
    author: str,
    visibility: str = PUBLIC,
    channel: str = "",
    external_id: str = "",
) -> dict[str, Any]:
    return {"id": event_id, **event_values(ticket_id, kind, text, now, visibility=visibility,
                                           author=author, channel=channel,
                                           external_id=external_id)}  # fmt: skip


def _first_claims(refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (channel, key): the first ticket to claim a key keeps it."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for ref in refs:
        seen.setdefault((ref["channel"], ref["key"]), ref)
    return list(seen.values())

"""Outbox rows: a message's columns and JSON, queueing one, and a row as a worker leased it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import (
    Attachment,
    Audience,
    CardMatch,
    OutboundMessage,
    ReplyTarget,
    TicketCard,
)
from core.context import Context
from core.storage.models import EventKind, OutboxRow, OutboxStatus, Ticket, TicketEvent

# How many earlier message ids an email References header carries (RFC 5322 suggests trimming).
_MAX_REFERENCES = 20
# Customer notices that a newer one of the same kind makes obsolete while still unsent: they
# wait the configured settle time, so that an agent correcting an ETA three times in a few
# seconds sends the customer one mail, with the last ETA, instead of four.
SETTLING = frozenset({EventKind.ETA_SET})
# Which unsent settling notices a newer customer message replaces, by the newer one's kind.
# Once the ticket is resolved, an estimate of when it will be is no news.
SUPERSEDES = {EventKind.ETA_SET: (EventKind.ETA_SET,), EventKind.RESOLVED: (EventKind.ETA_SET,)}


@dataclass(frozen=True)
class Claimed:
    """An outbox row leased by a worker, with what sending it needs."""

    id: int
    ticket_id: int | None
    event_id: int | None
    channel: str
    target: ReplyTarget
    audience: str
    kind: str
    message_json: str
    attempts: int
    # The parts of the message that already went out (core.channel.Progress), oldest first.
    progress: tuple[str, ...] = ()


async def conversation_of(session: AsyncSession, ticket: Ticket) -> list[tuple[str, str]]:
    """The ticket's (external id, kind) events on its reply channel, oldest first: what a
    reply's threading headers are taken from (see `thread_refs`)."""
    rows = await session.execute(
        select(TicketEvent.external_id, TicketEvent.kind)
        .where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.channel == ticket.reply_channel,
            TicketEvent.external_id != "",
        )
        .order_by(TicketEvent.id)
    )
    return [(external_id, kind) for external_id, kind in rows]


def thread_refs(events: list[tuple[str, str]]) -> tuple[str, tuple[str, ...]]:
    """From a ticket's (external id, kind) events on its channel, oldest first: the customer's
    latest message id, and the ids a reply's References header carries."""
    ids = [external_id for external_id, _ in events]
    inbound = [external_id for external_id, kind in events if kind == EventKind.CUSTOMER_MESSAGE]
    refs = ids[:1] + ids[1:][-(_MAX_REFERENCES - 1) :] if ids else []
    return (inbound[-1] if inbound else ""), tuple(refs)


def encode_message(message: OutboundMessage) -> str:
    # Field by field rather than asdict(), which deep-copies every value first: that copy cost
    # more than the JSON itself, once for every message queued (the fields are plain values).
    data = {field.name: getattr(message, field.name) for field in fields(message)}
    if message.card is not None:
        data["card"] = _card_fields(message.card)
    if message.digest:
        data["digest"] = [_card_fields(card) for card in message.digest]
    else:
        del data["digest"]  # only a digest carries cards of its own
    if message.attachments:
        data["attachments"] = [
            {field.name: getattr(item, field.name) for field in fields(item)}
            for item in message.attachments
        ]
    else:
        del data["attachments"]  # most messages carry none: keep their JSON as it was
    return json.dumps(data, default=lambda value: value.isoformat())


def _card_fields(card: TicketCard) -> dict[str, Any]:
    return {field.name: getattr(card, field.name) for field in fields(card)}


def _card_from(data: dict[str, Any]) -> TicketCard:
    data["similar"] = tuple(CardMatch(*match) for match in data.get("similar", ()))
    for key in ("eta", "next_update_due", "latest_at"):
        if data.get(key):
            data[key] = datetime.fromisoformat(data[key])
    return TicketCard(**data)


def decode_message(raw: str) -> OutboundMessage:
    data = json.loads(raw)
    card = data.pop("card", None)
    data["audience"] = Audience(data["audience"])
    data["references"] = tuple(data.get("references", ()))
    data["attachments"] = tuple(Attachment(**item) for item in data.get("attachments", ()))
    data["buttons"] = tuple(tuple(button) for button in data.get("buttons", ()))
    data["digest"] = tuple(_card_from(item) for item in data.get("digest", ()))
    if card:
        data["card"] = _card_from(card)
    return OutboundMessage(**data)


async def enqueue(
    ctx: Context,
    session: AsyncSession,
    ticket: Ticket,
    *,
    kind: str,
    text: str,
    target: ReplyTarget,
    card: TicketCard | None = None,
    buttons: tuple[tuple[str, str], ...] = (),
) -> OutboxRow:
    """Put one message for agents (a card, an alert) in the outbox, in the caller's
    transaction. Messages to the customer are built by core.tickets.timeline.customer_message."""
    row = agents_row(ctx, ticket, kind=kind, text=text, target=target, card=card, buttons=buttons)
    session.add(row)
    await session.flush()
    return row


def agents_row(
    ctx: Context,
    ticket: Ticket,
    *,
    kind: str,
    text: str,
    target: ReplyTarget,
    card: TicketCard | None = None,
    buttons: tuple[tuple[str, str], ...] = (),
) -> OutboxRow:
    """The outbox row of one message for agents about `ticket`, not yet in any session."""
    return OutboxRow(
        **outbox_values(
            ticket, target, kind=kind, text=text, automatic=True, token=uuid.uuid4().hex,
            now=ctx.now(), event_id=None, audience=Audience.AGENTS, card=card, in_reply_to="",
            references=(), buttons=buttons,
        )
    )  # fmt: skip


async def place_notice(ctx: Context, session: AsyncSession, row: OutboxRow) -> None:
    """Add a customer message's outbox row to the session: a notice that settles waits a
    moment before it may be sent, and one that supersedes cancels the older unsent ones."""
    now = ctx.now()
    if row.kind in SETTLING:
        row.next_attempt_at = now + ctx.settings.reminders.settle
    session.add(row)
    await session.flush()
    kinds = SUPERSEDES.get(row.kind)  # type: ignore[call-overload]  # str keys equal the enums
    if kinds:
        await _supersede_older_notices(session, row, kinds, now)


async def _supersede_older_notices(
    session: AsyncSession, newer: OutboxRow, kinds: tuple[EventKind, ...], now: datetime
) -> None:
    """Cancel the ticket's unsent notices of `kinds` queued before `newer`: they are stale.

    A row a worker holds a live lease on may be on its way and is left alone; a row whose lease
    ran out belongs to no one (a worker checks the row is still pending before it renews)."""
    assert newer.ticket_id is not None  # customer notices always belong to a ticket
    await session.execute(
        update(OutboxRow)
        .where(*_unsent(newer.ticket_id, kinds, now), OutboxRow.id < newer.id)
        .values(
            status=OutboxStatus.CANCELLED.value,
            lease_until=None,
            last_error=f"superseded by outbox row {newer.id}, a later {newer.kind} message",
        )
        .execution_options(synchronize_session=False)
    )


def _unsent(ticket_id: int, kinds: tuple[EventKind, ...], now: datetime) -> list[Any]:
    """Conditions for a ticket's customer notices of `kinds` that nobody is sending yet."""
    return [
        OutboxRow.ticket_id == ticket_id,
        OutboxRow.kind.in_([kind.value for kind in kinds]),
        OutboxRow.audience == Audience.CUSTOMER.value,
        OutboxRow.status == OutboxStatus.PENDING.value,
        or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now),
    ]


async def has_unsent_notice(
    session: AsyncSession, ticket_id: int, kind: EventKind, now: datetime
) -> bool:
    """Whether a notice of `kind` is still waiting to go out (and so a newer one replaces it)."""
    found = await session.scalar(select(OutboxRow.id).where(*_unsent(ticket_id, (kind,), now)))
    return found is not None


def outbox_values(
    ticket: Ticket,
    target: ReplyTarget,
    *,
    kind: str,
    text: str,
    automatic: bool,
    token: str,
    now: datetime,
    event_id: int | None,
    audience: Audience,
    card: TicketCard | None,
    in_reply_to: str,
    references: tuple[str, ...],
    attachments: tuple[Attachment, ...] = (),
    buttons: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    """The outbox row's columns for one message (also used to open many tickets at once)."""
    message = OutboundMessage(
        ticket_ref=ticket.ref,
        subject=ticket.subject,
        text=text,
        kind=kind,
        automatic=automatic,
        token=token,
        audience=audience,
        in_reply_to=in_reply_to,
        references=references,
        card=card,
        attachments=attachments,
        buttons=buttons,
    )
    contact = ticket.requester_id if audience is Audience.CUSTOMER else None
    return _columns(ticket.id, contact, target, message, event_id, now)


def incident_notice_values(
    ref: str, title: str, target: ReplyTarget, *, kind: str, text: str, now: datetime
) -> dict[str, Any]:
    """The outbox row's columns for a message to agents about an incident (`INC-3`), not about
    one ticket: its ticket_id is NULL, so it goes to the triage channel itself (no card's
    thread) and to each agent's mailbox as a notice that names the incident."""
    message = OutboundMessage(
        ticket_ref=ref, subject=title, text=text, kind=kind, automatic=True,
        token=uuid.uuid4().hex, audience=Audience.AGENTS,
    )  # fmt: skip
    return _columns(None, None, target, message, None, now)


def _columns(
    ticket_id: int | None,
    contact_id: int | None,
    target: ReplyTarget,
    message: OutboundMessage,
    event_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    audience, kind, automatic, token = (
        message.audience, message.kind, message.automatic, message.token,
    )  # fmt: skip
    return {
        "ticket_id": ticket_id,
        "event_id": event_id,
        "contact_id": contact_id,
        "channel": target.channel,
        "address": target.address,
        "thread": target.thread,
        "audience": audience.value,
        "kind": kind,
        "automatic": automatic,
        "token": token,
        "message": encode_message(message),
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "lease_owner": "",
        "last_error": "",
        "external_id": "",
        "created_at": now,
    }

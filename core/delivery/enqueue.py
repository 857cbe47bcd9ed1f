"""Queuing messages: to the customer's channel, triage cards, alerts for agents."""

from __future__ import annotations

import json
import uuid
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Audience, OutboundMessage, ReplyTarget, TicketCard
from core.context import Context
from core.storage.models import Contact, OutboxRow, OutboxStatus, Ticket, TicketEvent
from core.tickets.refs import register_keys

# How many earlier message ids an email References header carries (RFC 5322 suggests trimming).
_MAX_REFERENCES = 20


async def _thread_refs(session: AsyncSession, ticket: Ticket) -> tuple[str, tuple[str, ...]]:
    """(the customer's latest message id, the conversation's ids oldest first) on its channel."""
    rows = (
        await session.execute(
            select(TicketEvent.external_id, TicketEvent.kind)
            .where(
                TicketEvent.ticket_id == ticket.id,
                TicketEvent.channel == ticket.reply_channel,
                TicketEvent.external_id != "",
            )
            .order_by(TicketEvent.id)
        )
    ).all()
    return thread_refs([(external_id, kind) for external_id, kind in rows])


def thread_refs(events: list[tuple[str, str]]) -> tuple[str, tuple[str, ...]]:
    """From a ticket's (external id, kind) events on its channel, oldest first: the customer's
    latest message id, and the ids a reply's References header carries."""
    ids = [external_id for external_id, _ in events]
    inbound = [external_id for external_id, kind in events if kind == "customer_message"]
    refs = ids[:1] + ids[1:][-(_MAX_REFERENCES - 1) :] if ids else []
    return (inbound[-1] if inbound else ""), tuple(refs)


def encode_message(message: OutboundMessage) -> str:
    # Field by field rather than asdict(), which deep-copies every value first: that copy cost
    # more than the JSON itself, once for every message queued (the fields are plain values).
    data = {field.name: getattr(message, field.name) for field in fields(message)}
    if message.card is not None:
        data["card"] = {
            field.name: getattr(message.card, field.name) for field in fields(message.card)
        }
    return json.dumps(data, default=lambda value: value.isoformat())


def decode_message(raw: str) -> OutboundMessage:
    data = json.loads(raw)
    card = data.pop("card", None)
    data["audience"] = Audience(data["audience"])
    data["references"] = tuple(data.get("references", ()))
    if card:
        for key in ("eta", "next_update_due"):
            if card.get(key):
                card[key] = datetime.fromisoformat(card[key])
        data["card"] = TicketCard(**card)
    return OutboundMessage(**data)


async def enqueue(
    ctx: Context,
    session: AsyncSession,
    ticket: Ticket,
    *,
    kind: str,
    text: str,
    automatic: bool,
    event: TicketEvent | None = None,
    target: ReplyTarget | None = None,
    audience: Audience = Audience.CUSTOMER,
    card: TicketCard | None = None,
) -> OutboxRow:
    """Put one message in the outbox, in the caller's transaction."""
    now = ctx.now()
    token = uuid.uuid4().hex
    if target is None:
        target = ReplyTarget(ticket.reply_channel, ticket.reply_address, ticket.reply_thread)
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    if audience is Audience.CUSTOMER:
        in_reply_to, references = await _thread_refs(session, ticket)
        # Our own message ids must lead back to this ticket even before delivery confirms them.
        await register_keys(session, target.channel, [token], ticket.id)
    row = OutboxRow(
        **outbox_values(
            ticket, target, kind=kind, text=text, automatic=automatic, token=token, now=now,
            event_id=event.id if event else None, audience=audience, card=card,
            in_reply_to=in_reply_to, references=references,
        )
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return row


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
    )
    return {
        "ticket_id": ticket.id,
        "event_id": event_id,
        "contact_id": ticket.requester_id if audience is Audience.CUSTOMER else None,
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


async def requester_name(session: AsyncSession, ticket: Ticket) -> str:
    contact = await session.get(Contact, ticket.requester_id)
    return contact.name or contact.address if contact else ""


async def make_card(session: AsyncSession, ticket: Ticket, excerpt: str = "") -> TicketCard:
    if not excerpt:
        first = await session.scalar(
            select(TicketEvent.text)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "customer_message")
            .order_by(TicketEvent.id)
            .limit(1)
        )
        excerpt = first or ""
    return card_for(ticket, await requester_name(session, ticket), excerpt)


def card_title(ticket: Ticket) -> str:
    return f"{ticket.ref}: {ticket.subject}"


def card_for(ticket: Ticket, requester: str, excerpt: str) -> TicketCard:
    return TicketCard(
        ref=ticket.ref,
        number=ticket.id,
        channel=ticket.reply_channel,
        requester=requester,
        subject=ticket.subject,
        excerpt=excerpt[:300],
        status=ticket.status,
        priority=ticket.priority,
        assignee=ticket.assignee or "",
        eta=ticket.eta,
        next_update_due=ticket.next_update_due,
        waiting_on=ticket.waiting_on,
    )


async def refresh_cards(ctx: Context, session: AsyncSession, ticket: Ticket) -> None:
    """Queue a card update in each triage channel; an unsent update is replaced, not added."""
    targets = ctx.triage_targets()
    if not targets:
        return
    card = await make_card(session, ticket)
    for target in targets:
        pending = await session.scalar(
            select(OutboxRow).where(
                OutboxRow.ticket_id == ticket.id,
                OutboxRow.channel == target.channel,
                OutboxRow.kind == "card",
                OutboxRow.status == OutboxStatus.PENDING.value,
                OutboxRow.attempts == 0,
                OutboxRow.lease_owner == "",
            )
        )
        if pending is not None:
            message = decode_message(pending.message)
            pending.message = encode_message(OutboundMessage(**{**message.__dict__, "card": card}))
            continue
        await enqueue(
            ctx,
            session,
            ticket,
            kind="card",
            text=card_title(ticket),
            automatic=True,
            target=target,
            audience=Audience.AGENTS,
            card=card,
        )


async def alert_agents(
    ctx: Context, session: AsyncSession, ticket: Ticket, kind: str, text: str
) -> None:
    """An internal message to every triage channel (in the card's thread when there is one)."""
    for target in ctx.triage_targets():
        await enqueue(
            ctx,
            session,
            ticket,
            kind=kind,
            text=text,
            automatic=True,
            target=target,
            audience=Audience.AGENTS,
        )

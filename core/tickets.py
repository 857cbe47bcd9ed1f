"""Ticket operations inside one transaction: timeline events, customer messages, promises."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, false, func, null, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Audience, OutboundMessage, ReplyTarget, TicketCard
from core.context import Context
from core.models import (
    ACTIVE_STATUSES,
    Contact,
    OutboxRow,
    OutboxStatus,
    Promise,
    Status,
    Ticket,
    TicketEvent,
    TicketRef,
)

PUBLIC = "public"
INTERNAL = "internal"
# How many earlier message ids an email References header carries (RFC 5322 suggests trimming).
_MAX_REFERENCES = 20


def _insert_ignore(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def contact_for(
    session: AsyncSession, channel: str, address: str, name: str, now: datetime
) -> Contact:
    """The contact row for a channel address, created on first sight; the name kept fresh.

    One upsert statement: this runs for every new ticket."""
    insert = _insert_ignore(session)
    statement = insert(Contact).values(channel=channel, address=address, name=name, created_at=now)
    # An empty name (a platform that did not say) never erases one we know.
    keep_name = case((statement.excluded.name == "", Contact.name), else_=statement.excluded.name)
    contact: Contact | None = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=["channel", "address"], set_={"name": keep_name}
        )
        .returning(Contact)
        .execution_options(populate_existing=True)
    )
    assert contact is not None
    return contact


async def register_keys(
    session: AsyncSession, channel: str, keys: list[str] | tuple[str, ...], ticket_id: int
) -> None:
    """Remember keys naming this ticket's conversation; the first ticket to claim a key keeps it."""
    wanted = sorted({key for key in keys if key})
    if not wanted:
        return
    insert = _insert_ignore(session)
    await session.execute(
        insert(TicketRef)
        .values([{"channel": channel, "key": key, "ticket_id": ticket_id} for key in wanted])
        .on_conflict_do_nothing()
    )


async def move_keys(
    session: AsyncSession, channel: str, keys: tuple[str, ...], ticket_id: int
) -> None:
    """Point existing keys at another ticket (a closed ticket's conversation continues anew)."""
    if keys:
        await session.execute(
            update(TicketRef)
            .where(TicketRef.channel == channel, TicketRef.key.in_(keys))
            .values(ticket_id=ticket_id)
        )
    await register_keys(session, channel, keys, ticket_id)


async def ticket_by_keys(
    session: AsyncSession, channel: str, keys: tuple[str, ...]
) -> Ticket | None:
    """The ticket named by the first key that is known, in the order given."""
    wanted = [key for key in keys if key]
    if not wanted:
        return None
    rows = (
        await session.execute(
            select(TicketRef.key, TicketRef.ticket_id).where(
                TicketRef.channel == channel, TicketRef.key.in_(wanted)
            )
        )
    ).all()
    by_key = {key: ticket_id for key, ticket_id in rows}
    for key in wanted:
        if key in by_key:
            return await session.get(Ticket, by_key[key], with_for_update=True)
    return None


async def add_event(
    session: AsyncSession,
    ticket: Ticket,
    kind: str,
    text: str,
    now: datetime,
    *,
    visibility: str = PUBLIC,
    author: str = "",
    channel: str = "",
    external_id: str = "",
) -> TicketEvent:
    event = TicketEvent(
        ticket_id=ticket.id,
        kind=kind,
        visibility=visibility,
        author=author,
        text=text,
        at=now,
        channel=channel,
        external_id=external_id,
    )
    session.add(event)
    ticket.updated_at = now
    await session.flush()
    return event


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
    ids = [external_id for external_id, _ in rows]
    inbound = [external_id for external_id, kind in rows if kind == "customer_message"]
    refs = ids[:1] + ids[1:][-(_MAX_REFERENCES - 1) :] if ids else []
    return (inbound[-1] if inbound else ""), tuple(refs)


def encode_message(message: OutboundMessage) -> str:
    data = asdict(message)
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
    row = OutboxRow(
        ticket_id=ticket.id,
        event_id=event.id if event else None,
        contact_id=ticket.requester_id if audience is Audience.CUSTOMER else None,
        channel=target.channel,
        address=target.address,
        thread=target.thread,
        audience=audience.value,
        kind=kind,
        automatic=automatic,
        token=token,
        message=encode_message(message),
        status=OutboxStatus.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        lease_owner="",
        last_error="",
        external_id="",
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


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
    return TicketCard(
        ref=ticket.ref,
        number=ticket.id,
        channel=ticket.reply_channel,
        requester=await requester_name(session, ticket),
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
            text=f"{ticket.ref}: {ticket.subject}",
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


async def settle_promises(
    session: AsyncSession, ticket: Ticket, kind: str, now: datetime, settled_by: str
) -> None:
    """Close the open promise(s) of `kind`: kept when settled by their due time.

    One UPDATE rather than load-and-modify: this runs on every public message."""
    if settled_by == "superseded":
        # Replaced before it fell due: neither kept nor broken. Replaced after: broken.
        kept: Any = case((Promise.due_at > now, null()), else_=false())
    else:
        kept = Promise.due_at >= now
    await session.execute(
        update(Promise)
        .where(Promise.ticket_id == ticket.id, Promise.kind == kind, Promise.settled_at.is_(None))
        .values(kept=kept, settled_at=now, settled_by=settled_by)
        .execution_options(synchronize_session="fetch")
    )


async def promise_next_update(
    ctx: Context, session: AsyncSession, ticket: Ticket, now: datetime, settled_by: str
) -> datetime:
    """A public message went out: settle the last promise and make the next one."""
    await settle_promises(session, ticket, "next_update", now, settled_by)
    due = ctx.next_update_due(ticket.priority, ticket.status, now)
    ticket.next_update_due = due
    ticket.nudged_for = None
    ticket.last_public_at = now
    session.add(Promise(ticket_id=ticket.id, kind="next_update", due_at=due, made_at=now))
    return due


async def tell_customer(
    ctx: Context,
    session: AsyncSession,
    ticket: Ticket,
    kind: str,
    render: str,
    *,
    author: str,
    automatic: bool,
    event_text: str | None = None,
    keep_schedule: bool = False,
    **context: Any,
) -> TicketEvent:
    """A public update: promise the next one, record it, queue it on the customer's channel."""
    now = ctx.now()
    if keep_schedule or ticket.status in (Status.RESOLVED, Status.CLOSED):
        await settle_promises(session, ticket, "next_update", now, kind)
        if not keep_schedule:
            ticket.next_update_due = None
        ticket.last_public_at = now
        next_update = ticket.next_update_due
    else:
        next_update = await promise_next_update(ctx, session, ticket, now, kind)
    text = ctx.texts.render(
        render,
        ref=ticket.ref,
        subject=ticket.subject,
        next_update=next_update,
        agent=author,
        eta=ticket.eta,
        waiting_on=ticket.waiting_on,
        now=now,
        **context,
    )
    event = await add_event(
        session, ticket, kind, event_text if event_text is not None else text, now,
        author=author, channel=ticket.reply_channel,
    )  # fmt: skip
    await enqueue(ctx, session, ticket, kind=kind, text=text, automatic=automatic, event=event)
    return event


async def automatic_today(ctx: Context, session: AsyncSession, contact_id: int) -> int:
    """Automatic customer messages to this person in the last 24 hours, on any ticket or channel."""
    since = ctx.now() - timedelta(days=1)
    count = await session.scalar(
        select(func.count(OutboxRow.id)).where(
            and_(
                OutboxRow.contact_id == contact_id,
                OutboxRow.automatic.is_(True),
                OutboxRow.audience == Audience.CUSTOMER.value,
                OutboxRow.kind != "ack",
                OutboxRow.created_at > since,
                OutboxRow.status != OutboxStatus.CANCELLED.value,
            )
        )
    )
    return int(count or 0)


def is_active(ticket: Ticket) -> bool:
    return ticket.status in {status.value for status in ACTIVE_STATUSES}

"""A message the desk could not read or apply: a ticket for a person, never a silent drop."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Contact, InboundMessage, ReplyTarget
from core.context import Context
from core.delivery.enqueue import refresh_cards
from core.storage.models import Contact as ContactRow
from core.storage.models import EventKind, Priority, Status, Ticket, Visibility
from core.tickets.refs import register_keys
from core.tickets.timeline import add_event, contact_upsert

SUBJECT = "Could not read this message"
_EXCERPT = 4000


async def open_for_a_person(
    ctx: Context,
    session: AsyncSession,
    *,
    channel: str,
    row_id: int,
    payload: bytes,
    error: str,
    message: InboundMessage | None,
) -> Ticket:
    """Open a ticket that only agents hear of: no acknowledgement (we may not even know who
    wrote, and what we would answer is unknown), no promise, an internal event saying what
    went wrong with what can be read of the message, and the triage card."""
    now = ctx.now()
    sender = message.sender if message else Contact(channel, "", "unknown sender")
    target = message.reply_target if message else ReplyTarget(channel, "", "")
    dialect = session.get_bind().dialect.name
    await session.execute(
        contact_upsert(dialect),
        {"channel": sender.channel, "address": sender.address, "name": sender.name[:200],
         "created_at": now},
    )  # fmt: skip
    requester = await session.scalar(
        select(ContactRow.id).where(
            ContactRow.channel == sender.channel, ContactRow.address == sender.address
        )
    )
    assert requester is not None  # upserted just above
    subject = f"{SUBJECT}: {message.subject}" if message and message.subject else SUBJECT
    ticket = Ticket(
        status=Status.NEW, priority=Priority.NORMAL, subject=subject[:500],
        requester_id=requester, reply_channel=target.channel, reply_address=target.address,
        reply_thread=target.thread, waiting_on="", created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(ticket)
    await session.flush()
    readable = payload.decode("utf-8", "replace")[:_EXCERPT]
    note = (
        f"Tidings could not read this message ({error}); nobody was answered. The raw message "
        f"is kept as {channel} inbox row {row_id}. What can be read of it:\n\n{readable}"
    )
    await add_event(session, ticket, EventKind.NOTE, note, now, visibility=Visibility.INTERNAL,
                    author="tidings", channel=channel)  # fmt: skip
    if message is not None:
        # A replay of the same message is then a duplicate, not a second ticket.
        await register_keys(session, channel, [message.external_id], ticket.id)
    await refresh_cards(ctx, session, ticket)
    return ticket

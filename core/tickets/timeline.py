"""Ticket operations inside one transaction: contacts, timeline events, promises, updates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, false, null, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import metrics
from core.channel import Attachment, Audience, ReplyTarget
from core.context import Context
from core.delivery.enqueue import outbox_values, thread_refs
from core.delivery.rows import conversation_of, place_notice
from core.on_commit import on_commit
from core.pages.tokens import page_links, page_url
from core.storage.models import (
    AttachmentRow,
    Contact,
    OutboxRow,
    Promise,
    Status,
    Ticket,
    TicketEvent,
)
from core.tickets.refs import insert_ignore, register_keys

PUBLIC = "public"
INTERNAL = "internal"


def contact_upsert(dialect: str) -> Any:
    """INSERT into contacts that, for a known address, only refreshes the name."""
    statement = insert_ignore(dialect)(Contact)
    # An empty name (a platform that did not say) never erases one we know.
    keep_name = case((statement.excluded.name == "", Contact.name), else_=statement.excluded.name)
    return statement.on_conflict_do_update(
        index_elements=["channel", "address"], set_={"name": keep_name}
    )


def event_values(
    ticket_id: int,
    kind: str,
    text: str,
    now: datetime,
    *,
    visibility: str = PUBLIC,
    author: str = "",
    channel: str = "",
    external_id: str = "",
) -> dict[str, Any]:
    """A ticket event's column values: for the ORM here, and for the grouped inserts."""
    return {"ticket_id": ticket_id, "kind": kind, "visibility": visibility,
            "author": author[:200],  # the column's width; an email address can be longer
            "text": text, "at": now, "channel": channel, "external_id": external_id}  # fmt: skip


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
        **event_values(ticket.id, kind, text, now, visibility=visibility, author=author,
                       channel=channel, external_id=external_id)
    )  # fmt: skip
    session.add(event)
    ticket.updated_at = now
    await session.flush()
    return event


def keep_files(
    session: AsyncSession, ticket_id: int, event_id: int | None, files: Sequence[Attachment]
) -> None:
    """Record files on the ticket, against the event they came with (a customer's message,
    an agent's reply or note). Names and types are cut to their columns' sizes."""
    for item in files:
        session.add(
            AttachmentRow(
                ticket_id=ticket_id, event_id=event_id, name=item.name[:500],
                content_type=item.content_type[:200], size=item.size, stored_at=item.stored_at,
            )
        )  # fmt: skip


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
    settled = await session.execute(
        update(Promise)
        .where(Promise.ticket_id == ticket.id, Promise.kind == kind, Promise.settled_at.is_(None))
        .values(kept=kept, settled_at=now, settled_by=settled_by)
        .returning(Promise.kept)
        .execution_options(synchronize_session="fetch")
    )
    results = list(settled.scalars())
    if results:
        on_commit(session, lambda: _count_settled(kind, results))


def _count_settled(kind: str, results: list[bool | None]) -> None:
    metrics.promise_settled(kind, True, results.count(True))
    metrics.promise_settled(kind, False, results.count(False))


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
    attachments: tuple[Attachment, ...] = (),
    **context: Any,
) -> TicketEvent:
    """A public update: promise the next one, record it, queue it on the customer's channel
    (with `attachments`, locally stored files, sent along)."""
    now = ctx.now()
    if keep_schedule or ticket.status in (Status.RESOLVED, Status.CLOSED):
        await settle_promises(session, ticket, "next_update", now, kind)
        if not keep_schedule:
            ticket.next_update_due = None
        ticket.last_public_at = now
        next_update = ticket.next_update_due
    else:
        next_update = await promise_next_update(ctx, session, ticket, now, kind)
    text = public_text(ctx, ticket, render, next_update, author, now, **context)
    said = customer_message(
        ticket, kind, text, now, author=author, automatic=automatic, event_text=event_text,
        conversation=await conversation_of(session, ticket),
        page_link=page_link(ctx, await page_url(ctx.settings, session, ticket.id, now)),
        attachments=attachments,
    )  # fmt: skip
    event = TicketEvent(**said.event)
    session.add(event)
    ticket.updated_at = now
    await session.flush()
    await place_notice(ctx, session, OutboxRow(**{**said.outbox, "event_id": event.id}))
    # Our own message id must lead back to this ticket even before delivery confirms it.
    await register_keys(session, ticket.reply_channel, [said.token], ticket.id)
    return event


@dataclass(frozen=True)
class CustomerMessage:
    """A message to the customer as rows: its timeline event and its outbox row (whose
    `event_id` the caller fills in once the event has one), and the token naming it."""

    event: dict[str, Any]
    outbox: dict[str, Any]
    token: str


def customer_message(
    ticket: Ticket,
    kind: str,
    text: str,
    now: datetime,
    *,
    author: str,
    automatic: bool,
    conversation: list[tuple[str, str]],
    event_text: str | None = None,
    event_id: int | None = None,
    page_link: str = "",
    attachments: tuple[Attachment, ...] = (),
) -> CustomerMessage:
    """The one builder of what a customer is told, on the ticket's reply target: used by
    `tell_customer` and by the grouped opening's acknowledgement alike.

    `conversation` is the ticket's (external id, kind) events on its channel, oldest first,
    from which the reply's threading headers are taken. `page_link` (the line naming the
    ticket's page, see core/pages/tokens.py) ends the message sent, not the timeline's copy.
    `attachments` (files stored locally) go with the message sent."""
    target = ReplyTarget(ticket.reply_channel, ticket.reply_address, ticket.reply_thread)
    in_reply_to, references = thread_refs(conversation)
    token = uuid.uuid4().hex
    event = event_values(
        ticket.id, kind, event_text if event_text is not None else text, now, author=author,
        channel=ticket.reply_channel,
    )  # fmt: skip
    sent = f"{text}\n\n{page_link}" if page_link else text
    outbox = outbox_values(
        ticket, target, kind=kind, text=sent, automatic=automatic, token=token, now=now,
        event_id=event_id, audience=Audience.CUSTOMER, card=None, in_reply_to=in_reply_to,
        references=references, attachments=attachments,
    )  # fmt: skip
    return CustomerMessage(event, outbox, token)


def page_link(ctx: Context, url: str) -> str:
    """The line that ends every message to the customer when the ticket has a page."""
    return ctx.texts.render("page_link", url=url) if url else ""


def known_page_link(ctx: Context, ticket_id: int) -> str:
    """The page line for the grouped writers (promise loop, incident fan-out), which build their
    rows without a session: the link is computed, its hash was stored at opening."""
    links = page_links(ctx.settings)
    return page_link(ctx, links.url(ticket_id)) if links is not None else ""


def public_text(
    ctx: Context,
    ticket: Ticket,
    render: str,
    next_update: datetime | None,
    author: str,
    now: datetime,
    **context: Any,
) -> str:
    """What the customer reads: the template with everything it may say about the ticket
    (`context` adds to it, or overrides it: an acknowledgement may leave the subject out)."""
    values: dict[str, Any] = {
        "ref": ticket.ref, "subject": ticket.subject, "next_update": next_update,
        "agent": author, "eta": ticket.eta, "waiting_on": ticket.waiting_on, "now": now,
    }  # fmt: skip
    return ctx.texts.render(render, **{**values, **context})

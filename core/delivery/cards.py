"""Triage cards: what a card shows, queueing updates, the newest one winning, where it is posted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Audience, CardMatch, OutboundMessage, ReplyTarget, SendResult, TicketCard
from core.context import Context
from core.delivery.digest import hold_row
from core.delivery.rows import Claimed, decode_message, encode_message, enqueue
from core.similar.shown import shown_matches
from core.storage.models import (
    Contact,
    EventKind,
    OutboxKind,
    OutboxRow,
    OutboxStatus,
    Status,
    Ticket,
    TicketEvent,
    TriageCard,
    table_of,
)
from core.tickets.refs import insert_ignore

# Where each ticket's card is posted, by (ticket id, channel): the platform's message id.
Posted = dict[tuple[int, str], str]

_CARDS = table_of(TriageCard)
# Channels whose agent targets are a person's mailbox, not a shared triage channel: a mail
# cannot be edited once sent, so a ticket's card goes to each mailbox once, as the "new ticket"
# notice (with the customer's whole first message), and later card updates are not mailed.
# Alerts reach them as notices of their own; there is no card thread to put them in.
MAILBOXES = frozenset({"email"})


def is_mailbox(channel: str) -> bool:
    return channel in MAILBOXES


def card_kind(target: ReplyTarget) -> OutboxKind:
    """The outbox kind of a ticket's card for `target`: a mailbox gets a new-ticket notice."""
    return OutboxKind.NEW_TICKET if is_mailbox(target.channel) else OutboxKind.CARD


def card_text(ticket: Ticket, target: ReplyTarget, first_message: str) -> str:
    """A card row's text: the card's title, or in a mailbox the customer's first message."""
    return first_message if is_mailbox(target.channel) else card_title(ticket)


async def requester_name(session: AsyncSession, ticket: Ticket) -> str:
    contact = await session.get(Contact, ticket.requester_id)
    return contact.name or contact.address if contact else ""


# Characters of a customer's message a card shows (its first one, and its latest).
CARD_EXCERPT = 300


@dataclass(frozen=True)
class LastWord:
    """The customer's latest message on a ticket, as its card shows it."""

    text: str  # "" when it is the first message: the card's excerpt already shows that one
    at: datetime | None
    author: str = ""


def last_word(first_id: int, last_id: int, text: str, at: datetime, author: str) -> LastWord:
    """The latest customer message (event `last_id`) of a ticket whose first is `first_id`."""
    return LastWord(text if last_id != first_id else "", at, author)


async def card_messages(session: AsyncSession, ticket_id: int) -> tuple[str, LastWord]:
    """A ticket's first customer message and its latest, what its card shows: two reads
    along the (ticket, id) index."""
    said = select(TicketEvent.id, TicketEvent.text, TicketEvent.at, TicketEvent.author).where(
        TicketEvent.ticket_id == ticket_id,
        TicketEvent.kind == EventKind.CUSTOMER_MESSAGE.value,
    )
    first = (await session.execute(said.order_by(TicketEvent.id).limit(1))).first()
    if first is None:
        return "", LastWord("", None)
    last = (await session.execute(said.order_by(TicketEvent.id.desc()).limit(1))).one()
    return first.text, last_word(first.id, last.id, last.text, last.at, last.author)


async def make_card(session: AsyncSession, ticket: Ticket) -> TicketCard:
    first, latest = await card_messages(session, ticket.id)
    similar = await session.run_sync(lambda sync: shown_matches(sync.connection(), [ticket.id]))
    return card_for(ticket, await requester_name(session, ticket), first, latest,
                    similar.get(ticket.id, ()))  # fmt: skip


def card_title(ticket: Ticket) -> str:
    return f"{ticket.ref}: {ticket.subject}"


def card_for(
    ticket: Ticket,
    requester: str,
    excerpt: str,
    latest: LastWord | None = None,
    similar: tuple[CardMatch, ...] = (),
) -> TicketCard:
    latest = latest or LastWord("", None)
    return TicketCard(
        ref=ticket.ref,
        number=ticket.id,
        channel=ticket.reply_channel,
        requester=requester,
        subject=ticket.subject,
        excerpt=excerpt[:CARD_EXCERPT],
        status=ticket.status,
        priority=ticket.priority,
        assignee=ticket.assignee or "",
        eta=ticket.eta,
        next_update_due=ticket.next_update_due,
        waiting_on=ticket.waiting_on,
        latest=latest.text[:CARD_EXCERPT],
        latest_at=latest.at,
        latest_by=latest.author,
        similar=similar,
    )


async def refresh_cards(ctx: Context, session: AsyncSession, ticket: Ticket) -> None:
    """Queue a card update in each triage channel; an unsent update is replaced, not added.
    A mailbox gets the card only while the ticket is new and it has not had one."""
    targets = ctx.triage_targets()
    if not targets:
        return
    card = await make_card(session, ticket)
    for target in targets:
        if is_mailbox(target.channel):
            await _first_card_to_mailbox(ctx, session, ticket, target, card)
            continue
        pending = await session.scalar(
            select(OutboxRow).where(
                OutboxRow.ticket_id == ticket.id,
                OutboxRow.channel == target.channel,
                OutboxRow.kind == OutboxKind.CARD.value,
                OutboxRow.status == OutboxStatus.PENDING.value,
                OutboxRow.attempts == 0,
                OutboxRow.lease_owner == "",
            )
        )
        if pending is not None:
            message = decode_message(pending.message)
            pending.message = encode_message(replace(message, card=card))
            continue
        await enqueue(
            ctx, session, ticket, kind=OutboxKind.CARD, text=card_title(ticket), target=target,
            card=card,
        )  # fmt: skip


async def _first_card_to_mailbox(
    ctx: Context, session: AsyncSession, ticket: Ticket, target: ReplyTarget, card: TicketCard
) -> None:
    """The "new ticket" notice for a ticket opened outside the grouped opening (a message
    nobody could read, say); never a second one."""
    if ticket.status != Status.NEW:
        return
    sent = await session.scalar(
        select(OutboxRow.id).where(
            OutboxRow.ticket_id == ticket.id,
            OutboxRow.channel == target.channel,
            OutboxRow.address == target.address,
            OutboxRow.kind == OutboxKind.NEW_TICKET.value,
        )
    )
    if sent is None:
        first, _ = await card_messages(session, ticket.id)  # the whole of it, not the excerpt
        row = await enqueue(
            ctx,
            session,
            ticket,
            kind=OutboxKind.NEW_TICKET,
            target=target,
            card=card,
            text=card_text(ticket, target, first or card.excerpt),
        )
        hold_row(ctx.settings, row)  # with a digest, it waits for it


async def newer_cards(session: AsyncSession, claimed: Iterable[Claimed]) -> dict[int, int]:
    """Card rows among `claimed` that a later card row of the same ticket and channel replaces:
    {row id: newer row id}. A card row carries the whole card, so only the latest counts.
    Without this, a post that failed and is retried after a later update went out would put
    the older content back on the card."""
    cards = [item for item in claimed if item.kind == OutboxKind.CARD and item.ticket_id]
    if not cards:
        return {}
    rows = await session.execute(
        select(OutboxRow.ticket_id, OutboxRow.channel, func.max(OutboxRow.id))
        .where(
            OutboxRow.kind == OutboxKind.CARD.value,
            OutboxRow.ticket_id.in_(sorted({item.ticket_id for item in cards if item.ticket_id})),
            OutboxRow.status != OutboxStatus.CANCELLED.value,
        )
        .group_by(OutboxRow.ticket_id, OutboxRow.channel)
    )
    latest = {(ticket_id, channel): row_id for ticket_id, channel, row_id in rows}
    return {
        item.id: latest[item.ticket_id, item.channel]
        for item in cards
        if item.ticket_id and latest.get((item.ticket_id, item.channel), item.id) > item.id
    }


async def supersede_cards(session: AsyncSession, newer: Mapping[int, int], owner: str) -> None:
    """Cancel the card rows `newer` names, where `owner` still holds them."""
    for row_id, latest in newer.items():
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id, OutboxRow.lease_owner == owner)
            .values(
                status=OutboxStatus.CANCELLED.value,
                lease_until=None,
                last_error=f"superseded by outbox row {latest}, a later card",
            )
        )


async def posted_cards(session: AsyncSession, claimed: Iterable[Claimed]) -> Posted:
    """Where the tickets of `claimed` rows for agents have a posted card: one read."""
    tickets = {
        item.ticket_id
        for item in claimed
        if item.audience == Audience.AGENTS and item.ticket_id is not None
    }
    if not tickets:
        return {}
    rows = await session.execute(
        select(TriageCard.ticket_id, TriageCard.channel, TriageCard.external_id).where(
            TriageCard.ticket_id.in_(sorted(tickets)), TriageCard.external_id != ""
        )
    )
    return {(ticket_id, channel): external for ticket_id, channel, external in rows}


def note_post(cards: Posted, item: Claimed, result: SendResult) -> bool:
    """Remember in `cards` where a sent card row put its card; True when that is new (a first
    post, or the card was deleted on the platform and posted again: the new one is edited)."""
    if item.kind != OutboxKind.CARD or item.ticket_id is None or not result.external_id:
        return False
    if cards.get((item.ticket_id, item.channel)) == result.external_id:
        return False
    cards[item.ticket_id, item.channel] = result.external_id
    return True


def remember_posts(connection: Connection, posts: Mapping[tuple[int, str], dict[str, Any]]) -> None:
    """Store where cards were posted (the latest post per ticket and channel), one statement."""
    if not posts:
        return
    upsert = insert_ignore(connection.dialect.name)(_CARDS)
    connection.execute(
        upsert.on_conflict_do_update(
            index_elements=[_CARDS.c.ticket_id, _CARDS.c.channel],
            set_={"external_id": upsert.excluded.external_id},
        ),
        list(posts.values()),
    )


def triage_context(
    item: Claimed,
    target: ReplyTarget,
    message: OutboundMessage,
    cards: Mapping[tuple[int, str], str],
) -> tuple[ReplyTarget, OutboundMessage]:
    """Cards are edited in place once posted; alerts go in the card's thread (a
    possible-incident card stands alone; a mailbox has no card to edit or thread to use)."""
    if item.ticket_id is None or item.kind == OutboxKind.POSSIBLE_INCIDENT:
        return target, message
    card = cards.get((item.ticket_id, item.channel), "")
    if not card:
        return target, message
    if item.kind == OutboxKind.CARD:
        return target, replace(message, edit_external_id=card)
    return ReplyTarget(target.channel, target.address, card), message

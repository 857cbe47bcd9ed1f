"""An agent's mail digest: the new tickets of a period in one mail, each answerable on its own.

A digest is about many tickets, so no one Reply-To can carry them all. Each ticket in it shows
its own signed reply address (`Answer T-2 by writing to: support+t2-…@…`, the same address its
one-by-one notice would have carried, see core/reply_tokens.py): an agent answers a ticket by
writing to that address (most mail clients open a new mail when it is clicked). The digest
itself carries no reply address: a plain reply goes to the support address and, as any agent
mail without a token, is explained and changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from email.message import Message

from channels.email.outbound import build_message, set_text_header
from core.channel import OutboundMessage, ReplyTarget, TicketCard
from core.reply_tokens import reply_address, reply_token
from core.storage.models import Status

FIRST_LINES = 3  # lines of the customer's first message a digest shows
LINE_CHARS = 200
SUBJECT_REFS = 6  # ticket refs the subject names before "and N more"
DONE = frozenset({Status.RESOLVED.value, Status.CLOSED.value})
HOW_TO_ANSWER = (
    "To answer a ticket, write to the address under it (click it, or put it in To:): it is "
    'yours and that ticket\'s alone, please do not forward it. A first line "note:" keeps '
    'your text internal; a first line such as "eta tomorrow 15:00", "resolve Fixed" or "take" '
    "runs that command on the ticket. Replying to this digest itself acts on no ticket."
)


def digest_subject(cards: tuple[TicketCard, ...]) -> str:
    """`New tickets (3): T-1, T-2, T-3`, the refs cut short when there are many."""
    refs = [card.ref for card in cards]
    named = ", ".join(refs[:SUBJECT_REFS])
    more = len(refs) - SUBJECT_REFS
    return f"New tickets ({len(refs)}): {named}" + (f" and {more} more" if more > 0 else "")


def first_lines(text: str) -> list[str]:
    """The first few non-empty lines of the customer's message, each cut to a sensible width."""
    lines = [line.strip() for line in text.splitlines() if line.strip()][:FIRST_LINES]
    return [f"> {line[:LINE_CHARS]}" for line in lines]


def ticket_block(card: TicketCard, answer_to: str) -> str:
    """One ticket of the digest: what it is, who wrote, how it began, where to answer it."""
    heading = f"{card.ref}: {card.subject}"
    if card.status in DONE:
        heading += f"  [already {card.status}]"
    lines = [heading, f"From: {card.requester} (by {card.channel}), priority {card.priority}"]
    if card.assignee:
        lines.append(f"Assigned to: {card.assignee}")
    if card.latest_at is not None:
        lines.append(f"Arrived: {card.latest_at:%Y-%m-%d %H:%M} UTC")
    lines.extend(first_lines(card.excerpt))
    if answer_to:
        lines.append(f"Answer {card.ref} by writing to: {answer_to}")
    return "\n".join(lines)


def build_digest(
    target: ReplyTarget,
    message: OutboundMessage,
    *,
    from_address: str,
    from_name: str,
    key: bytes | None,
    agent: str | None,
    now: datetime | None = None,
    reply_base: str = "",
) -> Message:
    """The digest mail for one agent; each ticket answerable when there is a key and an agent
    (the same arguments as build_agent_notice)."""
    answerable = key is not None and agent is not None

    def answer_to(card: TicketCard) -> str:
        if key is None or agent is None:
            return ""
        return reply_address(reply_base or from_address, reply_token(key, agent, card.number))

    count = len(message.digest)
    intro = f"{count} new ticket{'s' if count != 1 else ''} since your last digest:"
    blocks = [ticket_block(card, answer_to(card)) for card in message.digest]
    text = "\n\n".join([intro, *blocks] + (["-- \n" + HOW_TO_ANSWER] if answerable else []))
    shown = replace(message, text=text, references=(), in_reply_to="")
    mail = build_message(target, shown, from_address=from_address, from_name=from_name, now=now)
    del mail["Subject"]
    set_text_header(mail, "Subject", digest_subject(message.digest))
    del mail["X-Tidings-Ticket"]  # about many tickets: answered through the addresses inside
    del mail["Auto-Submitted"]
    mail["Auto-Submitted"] = "auto-generated"  # a notice, not an answer to anyone
    return mail

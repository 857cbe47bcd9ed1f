"""Mail to agents: a ticket's notices (new ticket, follow-ups, alerts) and answers to their mail.

Each notice about a ticket carries, in Reply-To, the reply address signed for that agent and
ticket (core/reply_tokens.py): answering from their mail client is how an agent acts by mail.
Notices about one ticket share a thread root in References, so mail clients group them; so do
notices about one incident (`INC-3`: its nudges and missed ETAs, which name no ticket).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import datetime
from email.message import Message

from channels.email.outbound import build_message, domain_of, reply_subject, set_text_header
from core.channel import OutboundMessage, ReplyTarget, TicketCard
from core.reply_tokens import reply_address, reply_token
from core.storage.models import OutboxKind

# What a notice's subject says it is, by the outbox kind core queued it with (`alert` is the
# promise loop's "the ETA was missed, set a new one"); any other kind shows the kind itself.
_HEADINGS = {
    OutboxKind.NEW_TICKET.value: "New ticket",
    OutboxKind.CUSTOMER_WROTE.value: "Customer wrote again",
    "nudge": "Update due soon",
    "alert": "ETA missed",
    "delivery_failed": "Not delivered",
    "csat_low": "Low rating",
    "agent_mail_answer": "Your mail",
}
# An incident's ref as core names its notices (core/delivery/rows.py incident_notice_values).
_INCIDENT_REF = re.compile(r"INC-[0-9]{1,18}")
HOW_TO_ANSWER = (
    "Reply to this mail to answer the customer (the quoted notice and your signature are left "
    'out). A first line "note:" keeps your text internal; a first line such as "eta tomorrow '
    '15:00", "wait the vendor\'s fix", "resolve Fixed", "take" or "priority high" runs that '
    "command on {ref}.\nThis mail's reply address is yours and {ref}'s alone: please do not "
    "forward it."
)


def notice_subject(message: OutboundMessage) -> str:
    """`[T-42] New ticket: VPN drops`; an answer to a refused mail is `Re: <its subject>`."""
    if not message.ticket_ref:
        return reply_subject("", message.subject).replace("[] ", "").replace("[]", "").strip()
    heading = _HEADINGS.get(message.kind, message.kind.replace("_", " ").capitalize())
    topic = reply_subject(message.ticket_ref, message.subject).removeprefix("Re: ")
    tag = f"[{message.ticket_ref}]"
    return f"{tag} {heading}: {topic.removeprefix(tag).strip()}".rstrip(": ")


def card_lines(card: TicketCard) -> list[str]:
    """The card's fields, one line each, as a new-ticket notice shows them above the text."""
    lines = [f"From: {card.requester} (by {card.channel})", f"Priority: {card.priority}"]
    if card.assignee:
        lines.append(f"Assigned to: {card.assignee}")
    if card.next_update_due is not None:
        lines.append(f"Next update due: {card.next_update_due:%Y-%m-%d %H:%M} UTC")
    return lines


def notice_text(message: OutboundMessage, can_answer: bool) -> str:
    """The notice's body: the card's fields and the customer's words, or the alert's text,
    then how to answer (only when this mailbox can)."""
    parts: list[str] = []
    if message.card is not None:
        parts.append("\n".join(card_lines(message.card)))
    parts.append(message.text.strip())
    if can_answer and message.ticket_ref:
        parts.append("-- \n" + HOW_TO_ANSWER.format(ref=message.ticket_ref))
    return "\n\n".join(part for part in parts if part)


def thread_root(ticket_ref: str, address: str, from_address: str) -> str:
    """The same made-up parent id for every notice one mailbox gets about one ticket (or one
    incident: `inc-3.notices…` never meets a ticket's `t-3.notices…`)."""
    mailbox = hashlib.sha256(address.lower().encode()).hexdigest()[:12]
    return f"<{ticket_ref.lower()}.notices.{mailbox}@{domain_of(from_address)}>"


def build_agent_notice(
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
    """The mail one agent gets: with `key` and `agent`, answerable through its Reply-To, a
    sub-address of `reply_base` (an address our intake accepts; else `from_address`)."""
    number = int(message.ticket_ref[2:]) if message.ticket_ref.startswith("T-") else None
    answerable = key is not None and agent is not None and number is not None
    references = message.references
    if number is not None or _INCIDENT_REF.fullmatch(message.ticket_ref):
        references = (thread_root(message.ticket_ref, target.address, from_address),)
    shown = replace(message, text=notice_text(message, answerable), references=references)
    mail = build_message(target, shown, from_address=from_address, from_name=from_name, now=now)
    del mail["Subject"]
    set_text_header(mail, "Subject", notice_subject(message))
    if number is None:
        del mail["X-Tidings-Ticket"]  # about no ticket: an answer to a mail that did nothing
    else:
        del mail["Auto-Submitted"]
        mail["Auto-Submitted"] = "auto-generated"  # a notice, not an answer to anyone
    if answerable:
        assert key is not None and agent is not None and number is not None
        token = reply_token(key, agent, number)
        mail["Reply-To"] = reply_address(reply_base or from_address, token)
    return mail

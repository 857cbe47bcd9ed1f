"""Which inbound mails are agents' (to a signed reply address, or from an agent's address)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from email.message import Message

from channels.email import mime
from channels.email.autodetect import Verdict
from channels.email.envelope import Envelope
from channels.email.quotes import strip_reply
from core.agents import EMAIL
from core.channel import Actor, AgentMessage, Attachment, Ignored, InboundKind
from core.reply_tokens import ticket_of


def reply_token_in(recipients: Iterable[str], our_addresses: frozenset[str]) -> str | None:
    """The agent reply token of the first recipient that is one of our addresses with a token
    as its sub-address (`support+t42-…@x`); None when there is none. Other sub-addresses
    (`support+billing@x`) are a customer's way of writing to us, not a token."""
    for recipient in recipients:
        local, _, domain = recipient.strip().strip("<>").lower().rpartition("@")
        base, plus, tag = local.partition("+")
        if plus and f"{base}@{domain}" in our_addresses and ticket_of(tag) is not None:
            return tag
    return None


def recipients(msg: Message, envelope: Envelope) -> list[str]:
    """Where the mail was delivered (the SMTP envelope), then where its headers say it went."""
    found = list(envelope.rcpt_tos)
    for header in ("to", "cc"):
        found.extend(address for _, address in mime.addresses(msg, header))
    return found


def agent_mail(
    msg: Message,
    envelope: Envelope,
    verdict: Verdict,
    sender: tuple[str, str],
    *,
    agent_addresses: frozenset[str],
    our_addresses: frozenset[str],
    external_id: str,
    subject: str,
    text: str,
    files: Callable[[], list[Attachment]],
) -> AgentMessage | Ignored | None:
    """The mail as an agent's (checked in core before anything is applied), Ignored when it is
    machine mail to an agent's reply address, or None: a customer's mail.

    An agent's address never writes as a customer: its mail without a token is still an
    agent's (and is refused with an explanation, not acknowledged as a new ticket)."""
    name, address = sender
    token = reply_token_in(recipients(msg, envelope), our_addresses)
    if token is None and address not in agent_addresses:
        return None
    if not address:
        return Ignored("mail to an agent reply address without a sender address")
    if verdict.kind is not InboundKind.MESSAGE:
        # An out-of-office or a bounce answering a notice: never applied, never answered.
        return Ignored(f"{verdict.kind.value} to an agent address: {verdict.note or 'no note'}")
    return AgentMessage(
        channel=EMAIL,
        external_id=external_id,
        actor=Actor(EMAIL, address, name),
        thread_keys=(),
        text=strip_reply(text, keep_all_quote=False),
        reply_token=token or "",
        subject=subject,
        attachments=tuple(files()),
    )

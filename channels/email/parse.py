"""Stored email payload -> InboundMessage: text, sender, threading keys, attachments, kind."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field, replace
from email.message import Message
from pathlib import Path

from channels.email import mime
from channels.email.agent_inbound import agent_mail
from channels.email.autodetect import Verdict, classify
from channels.email.envelope import (
    MAX_KEY,
    Envelope,
    hashed,
    header_block,
    normalize_id,
    unframe,
)
from channels.email.html import html_to_text
from channels.email.quotes import strip_reply
from channels.email.template import TemplateField, read_fields
from core.channel import (
    AgentMessage,
    Attachment,
    Contact,
    Decoded,
    Ignored,
    InboundKind,
    InboundMessage,
    ReplyTarget,
)

log = logging.getLogger(__name__)

CHANNEL = "email"
MAX_TEXT = 100_000  # characters kept of a body; the raw message stays in the inbox row
MAX_ADDRESS = 254
MAX_NAME = 200  # the contacts.name column
_TICKET_TAG = re.compile(r"\[\s*T-(\d{1,12})\s*\]", re.IGNORECASE)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_ANGLED = re.compile(r"<[^<>]*>")
# Characters PostgreSQL text cannot hold: NUL, and lone surrogates (they are not UTF-8).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
MAX_PARTICIPANTS = 10  # addresses tried with each earlier message id when threading
MAX_RELATED = 20  # earlier message ids tried, closest first


@dataclass(frozen=True)
class ParseOptions:
    """What decode needs to know about our side: whose ids are ours, where files go."""

    our_domains: frozenset[str] = frozenset()
    our_addresses: frozenset[str] = frozenset()
    attachments_dir: str = ""
    channel: str = CHANNEL
    template: tuple[TemplateField, ...] = ()
    impact_priority: dict[str, str] = field(default_factory=dict)
    agent_addresses: frozenset[str] = frozenset()  # agents' own mail addresses, lower case


def ticket_hint(subject: str) -> int | None:
    match = _TICKET_TAG.search(subject)
    return int(match.group(1)) if match else None


def storable(text: str) -> str:
    """Text as any database stores it: no NUL, no lone surrogate (replaced by U+FFFD)."""
    return _UNSTORABLE.sub(lambda found: "" if found.group() == "\x00" else "\ufffd", text)


def one_line(text: str) -> str:
    """A header value on one line: every run of CR/LF is a single space."""
    if "\r" not in text and "\n" not in text:
        return text
    return mime.unfold(text.replace("\r", "\n")).strip()


def message_key(sender: str, message_id: str) -> str:
    """The key a message is known by: its sender and its Message-ID together.

    Another sender's mail that carries the same Message-ID (forged, or a broken client) is a
    different message, not a duplicate; the same sender's copy is. Outbound mail reads the
    Message-ID back out of the key (the `<…>` part) for In-Reply-To and References."""
    key = f"{sender}|{message_id}" if sender else message_id
    return key if len(key) <= MAX_KEY else hashed("sha256:", key.encode("utf-8", "surrogateescape"))


def _domain(message_id: str) -> str:
    return message_id.strip("<>").rpartition("@")[2].lower()


def _ids(msg: Message, name: str) -> list[str]:
    """Message ids in a header: the <bracketed> ones, else (old clients) bare id@host words."""
    value = mime.header_text(msg, name)
    tokens = _ANGLED.findall(value) or value.split()
    found = (normalize_id(token) for token in tokens)
    return [ident for ident in found if ident and len(ident) <= MAX_KEY]


def thread_ids(msg: Message, our_domains: frozenset[str]) -> tuple[list[str], list[str]]:
    """(ours, others): our own outbound ids first (full and bare token), then everyone else's.

    In-Reply-To comes first, then References newest first: the closest ancestor is the best key.
    """
    ordered: list[str] = []
    for ident in _ids(msg, "in-reply-to") + list(reversed(_ids(msg, "references"))):
        if ident not in ordered:
            ordered.append(ident)
    ours: list[str] = []
    others: list[str] = []
    for ident in ordered:
        if _domain(ident) in our_domains:
            ours.extend([ident, ident.strip("<>").rpartition("@")[0]])
        else:
            others.append(ident)
    return ours, others


def _leaves(msg: Message) -> list[Message]:
    """Leaf parts in order, with an attached message/rfc822 treated as one leaf (a file)."""
    result: list[Message] = []
    stack = [msg]
    while stack and len(result) < mime.MAX_PARTS:
        part = stack.pop()
        kind = mime.content_type(part)
        if part.is_multipart() and not kind.startswith("message/"):
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(reversed([c for c in children if isinstance(c, Message)]))
            continue
        if part.is_multipart() and part is msg:
            continue  # a bare message/rfc822 container as the whole mail: nothing to show
        result.append(part)
    return result


def body_text(leaves: list[Message]) -> str:
    """The message text: inline text/plain parts, else inline HTML converted to text.

    Both versions of a multipart/alternative are leaves here; the plain one wins when it has
    any text (Thunderbird sends an empty plain part next to HTML with only an image).
    """
    plain: list[str] = []
    html: list[str] = []
    for part in leaves:
        if mime.is_attachment(part):
            continue
        kind = mime.content_type(part)
        if kind == "text/html":
            html.append(mime.part_text(part))
        elif kind.startswith("text/") or kind == "message/delivery-status":
            plain.append(mime.part_text(part))
    if any(p.strip() for p in plain):
        text = "\n\n".join(p.strip("\r\n") for p in plain if p.strip())
    else:
        text = "\n\n".join(html_to_text(h) for h in html if h.strip())
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _store(directory: Path, index: int, name: str, data: bytes) -> str:
    """Write one attachment; a deterministic path so a re-decode overwrites, not duplicates."""
    safe = _SAFE_NAME.sub("_", name).strip("._")[:100] or "attachment"
    target = directory / f"{index:02d}-{safe}"
    directory.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return str(target)


def attachments(leaves: list[Message], raw: bytes, options: ParseOptions) -> list[Attachment]:
    """Record every file part (name, type, size) and keep its bytes under attachments_dir."""
    found: list[Attachment] = []
    digest = hashlib.sha256(raw).hexdigest()
    directory = Path(options.attachments_dir) / digest[:2] / digest[2:20]
    for index, part in enumerate(p for p in leaves if mime.is_attachment(p)):
        kind = mime.content_type(part)
        if kind.startswith("message/") and part.is_multipart():
            inner = part.get_payload(0)
            try:
                data = inner.as_bytes() if isinstance(inner, Message) else b""
            except Exception:
                data = str(inner).encode("utf-8", "surrogateescape")
            name = mime.filename(part) or "attached-message.eml"
        else:
            data = mime.payload_bytes(part)
            name = mime.filename(part) or f"part-{index + 1}.{kind.rpartition('/')[2] or 'bin'}"
        stored = ""
        if options.attachments_dir:
            try:
                stored = _store(directory, index, name, data)
            except OSError as exc:
                log.warning("could not store attachment %r: %s", name, exc)
        found.append(
            Attachment(name=name[:255], content_type=kind[:200], size=len(data), stored_at=stored)
        )
    return found


def _usable(address: str) -> str:
    # RFC 5321 caps a path at 256 octets; anything longer is garbage, and would not fit the
    # 320-character address columns either.
    return address.lower() if 0 < len(address) <= MAX_ADDRESS else ""


def _sender(msg: Message, envelope: Envelope) -> tuple[str, str]:
    name, address = mime.first_address(msg, "from")
    if not _usable(address):
        name, address = mime.first_address(msg, "sender")
    if not _usable(address) and "@" in envelope.mail_from:
        name, address = "", envelope.mail_from
    return name[:MAX_NAME], _usable(address)


def _is_ours(address: str, options: ParseOptions) -> bool:
    return address in options.our_addresses


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "\n[… message truncated]"


def _related(others: list[str], participants: list[str]) -> tuple[str, ...]:
    """Earlier message ids as keys: each bare (how older rows were keyed), then as sent by each
    participant (the sender, and the To and Cc a reply-all keeps), since a message is known by
    its sender and its id together."""
    keys: list[str] = []
    for ident in others[:MAX_RELATED]:
        keys.append(ident)
        keys.extend(message_key(address, ident) for address in participants)
    return tuple(keys)


def _participants(msg: Message, sender: str) -> list[str]:
    found = [sender] if sender else []
    for header in ("to", "cc"):
        for _, address in mime.addresses(msg, header):
            address = _usable(address)
            if address and address not in found:
                found.append(address)
    return found[:MAX_PARTICIPANTS]


def _bounced(verdict: Verdict, options: ParseOptions) -> tuple[str, ...]:
    return tuple(
        key
        for ident in verdict.bounced_ids
        if _domain(ident) in options.our_domains
        for key in (ident, ident.strip("<>").rpartition("@")[0])
    )


def decode_message(raw: bytes, envelope: Envelope, options: ParseOptions) -> Decoded:
    """Translate one raw message. May raise on truly broken input; see `decode_payload`."""
    msg = mime.parse_message(raw)
    name, address = _sender(msg, envelope)
    mail_from = envelope.mail_from if envelope.rcpt_tos or envelope.mail_from else None
    ours, others = thread_ids(msg, options.our_domains)
    verdict = classify(msg, mail_from, ours=_is_ours(address, options), answers_us=bool(ours))
    own_id = normalize_id(mime.header_text(msg, "message-id"))
    external_id = message_key(address, own_id) if own_id else hashed("sha256:", raw)
    subject = one_line(mime.header_text(msg, "subject"))[:500]
    participants = _participants(msg, address)
    leaves = _leaves(msg)
    # Clipped before it is read: quotes and template answers are looked for in what is kept.
    text = _clip(storable(body_text(leaves)))
    agent = agent_mail(
        msg, envelope, verdict, (name, address), agent_addresses=options.agent_addresses,
        our_addresses=options.our_addresses, external_id=external_id, subject=subject,
        text=text, files=lambda: attachments(leaves, raw, options),
    )  # fmt: skip
    if agent is not None:
        return agent
    if verdict.kind in (InboundKind.MESSAGE, InboundKind.AUTO_REPLY):
        text = strip_reply(text)
    if not address and verdict.kind is InboundKind.MESSAGE:
        return Ignored("no sender address in From, Sender or the SMTP envelope: nobody to answer")
    reply_to = _usable(mime.first_address(msg, "reply-to")[1])
    root = (_ids(msg, "references") or _ids(msg, "in-reply-to") or [own_id])[0]
    files: list[Attachment] = []
    answers: dict[str, str] = {}
    if verdict.kind is InboundKind.MESSAGE:
        files = attachments(leaves, raw, options)
        if not ours:  # template answers open a ticket; a reply in a thread is just a reply
            answers, text = read_fields(text, options.template)
    return InboundMessage(
        channel=options.channel,
        external_id=external_id,
        sender=Contact(options.channel, address, name),
        reply_target=ReplyTarget(options.channel, reply_to or address, root),
        text=_clip(text) or ("(no text; see attachments)" if files else "(empty message)"),
        subject=subject,
        kind=verdict.kind,
        thread_keys=tuple(ours),
        ticket_hint=ticket_hint(subject),
        related_keys=_related(others, participants),
        addressees=tuple(other.lower() for other in participants if other != address),
        bounced_keys=_bounced(verdict, options),
        attachments=tuple(files),
        received_at=envelope.received_at,
        fields=answers,
        priority=options.impact_priority.get(answers.get("impact", "")),
        note=verdict.note,
    )


def _stored_form(result: Decoded) -> Decoded:
    """Every text in a decoded message cleaned of what a database cannot store."""
    if isinstance(result, Ignored):
        return Ignored(storable(result.reason))
    if isinstance(result, AgentMessage):
        actor = result.actor
        return replace(
            result, external_id=storable(result.external_id), text=storable(result.text),
            subject=storable(result.subject), reply_token=storable(result.reply_token or ""),
            actor=replace(actor, user_id=storable(actor.user_id),
                          name=one_line(storable(actor.name))),
        )  # fmt: skip
    if not isinstance(result, InboundMessage):
        return result
    sender, target = result.sender, result.reply_target
    return replace(
        result,
        external_id=storable(result.external_id),
        sender=Contact(sender.channel, storable(sender.address), one_line(storable(sender.name))),
        reply_target=ReplyTarget(target.channel, storable(target.address), storable(target.thread)),
        text=storable(result.text),
        subject=storable(result.subject),
        thread_keys=tuple(storable(key) for key in result.thread_keys),
        related_keys=tuple(storable(key) for key in result.related_keys),
        bounced_keys=tuple(storable(key) for key in result.bounced_keys),
        attachments=tuple(
            replace(
                item, name=one_line(storable(item.name)), content_type=storable(item.content_type)
            )
            for item in result.attachments
        ),
        fields={storable(key): storable(value) for key, value in result.fields.items()},
        note=storable(result.note),
    )


def _fallback(raw: bytes, envelope: Envelope, options: ParseOptions, error: Exception) -> Decoded:
    """When MIME decoding failed outright: keep the message readable rather than lose it."""
    head = header_block(raw)
    body = raw[len(head) :].lstrip(b"\r\n")
    subject_match = re.search(rb"(?im)^subject:[ \t]*([^\r\n]*)", head)
    subject = ""
    if subject_match:
        subject = one_line(mime.decode_words(subject_match.group(1).decode("utf-8", "replace")))
    address = _usable(envelope.mail_from)
    if "@" not in address:
        return Ignored(f"unreadable message without an envelope sender ({error!r})")
    return InboundMessage(
        channel=options.channel,
        external_id=hashed("sha256:", raw),
        sender=Contact(options.channel, address, ""),
        reply_target=ReplyTarget(options.channel, address, ""),
        text=_clip(mime.decode_bytes(body or raw, None)) or "(empty message)",
        subject=subject[:500],
        ticket_hint=ticket_hint(subject),
        received_at=envelope.received_at,
        note=f"MIME structure unreadable ({type(error).__name__}); showing the raw text",
        for_a_person=(
            f"The MIME structure of this mail was unreadable ({type(error).__name__}), so the "
            "text shown is the raw mail; attachments and formatting may be missing."
        ),
    )


def decode_payload(payload: bytes, options: ParseOptions) -> Decoded:
    """Pure translation of a stored payload. Never raises."""
    try:
        envelope, raw = unframe(payload)
    except Exception as exc:  # unframe is defensive already; this is the last guard
        return Ignored(f"unreadable email payload ({exc!r})")
    try:
        return _stored_form(decode_message(raw, envelope, options))
    except Exception as exc:
        log.warning("email decode failed, using the raw text: %r", exc)
        try:
            return _stored_form(_fallback(raw, envelope, options, exc))
        except Exception as again:
            return Ignored(storable(f"unreadable email ({exc!r}; {again!r})"))

"""The stored email payload: SMTP envelope + raw message bytes, and the cheap Message-ID scan."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

# One JSON line describing the SMTP envelope, then the message exactly as received. A version
# tag in front lets a later release change the framing without misreading old inbox rows.
MAGIC = b"TIDINGS-EMAIL/1 "

# Keys and ids are stored in String(500) columns; anything longer is replaced by its hash.
MAX_KEY = 400

_HEADER_END = re.compile(rb"\r?\n\r?\n")
# Only the Message-ID header, unfolded across continuation lines; no MIME parsing (this runs
# between DATA and 250, where a full parse would cost milliseconds per message).
_MESSAGE_ID_HEADER = re.compile(rb"(?im)^message-id[ \t]*:((?:[^\r\n]*)(?:\r?\n[ \t][^\r\n]*)*)")
_ANGLE_ID = re.compile(r"<([^<>\s]+)>")
# Splits a header into the words a bare id@host may be; a run of one character class, so
# linear (the pattern `[^…]+@[^…]+` this replaces was quadratic on a long word without "@").
_NOT_IN_BARE_ID = re.compile(r"[<>\s\"(),;:]+")


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the SMTP session said about a message, as opposed to what its headers claim."""

    mail_from: str  # "" for the null sender MAIL FROM:<>
    rcpt_tos: tuple[str, ...] = ()
    received_at: datetime | None = None
    peer: str = ""


def frame(envelope: Envelope, raw: bytes) -> bytes:
    """Pack an envelope and the raw message into the bytes the inbox stores."""
    header = {
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "received_at": envelope.received_at.isoformat() if envelope.received_at else None,
        "peer": envelope.peer,
    }
    return MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n" + raw


def unframe(payload: bytes) -> tuple[Envelope, bytes]:
    """Split a stored payload; a payload without our framing is treated as a bare message."""
    if not payload.startswith(MAGIC):
        return Envelope(mail_from=""), payload
    line, _, raw = payload[len(MAGIC) :].partition(b"\n")
    try:
        data = json.loads(line)
        when = data.get("received_at")
        envelope = Envelope(
            mail_from=str(data.get("mail_from") or ""),
            rcpt_tos=tuple(str(r) for r in data.get("rcpt_tos") or ()),
            received_at=datetime.fromisoformat(when) if when else None,
            peer=str(data.get("peer") or ""),
        )
    except (ValueError, TypeError, AttributeError):
        envelope = Envelope(mail_from="")
    return envelope, raw


def normalize_id(value: str) -> str:
    """`<id@host>` with the brackets, whitespace removed; "" when there is no id-like token."""
    value = value.strip()
    match = _ANGLE_ID.search(value)
    if match:
        return f"<{match.group(1)}>"
    if "@" not in value:
        return ""
    for word in _NOT_IN_BARE_ID.split(value):
        if "@" in word[1:-1]:  # something on both sides of an "@"
            return f"<{word}>"
    return ""


def header_block(raw: bytes) -> bytes:
    """The raw header section (everything before the first blank line)."""
    match = _HEADER_END.search(raw)
    return raw[: match.start()] if match else raw


def scan_message_id(raw: bytes) -> str:
    """The normalised Message-ID of a raw message, or "" — a regex over the headers only."""
    match = _MESSAGE_ID_HEADER.search(header_block(raw))
    if not match:
        return ""
    return normalize_id(match.group(1).decode("utf-8", "replace"))


def hashed(prefix: str, data: bytes) -> str:
    return f"{prefix}{hashlib.sha256(data).hexdigest()}"


def dedup_key(mail_from: str, raw: bytes) -> str:
    """The inbox dedupe key: envelope sender + Message-ID (else a hash of the bytes).

    Keyed on the sender so a duplicate Message-ID from the same sender (an MTA retry, a client
    sending twice) is one message, while a forged or colliding id from someone else is not
    swallowed.
    """
    message_id = scan_message_id(raw)
    ident = message_id or hashed("sha256:", raw)
    key = f"{mail_from.lower()}|{ident}"
    if len(key) > MAX_KEY:
        return hashed("sha256:", key.encode("utf-8", "surrogateescape"))
    return key

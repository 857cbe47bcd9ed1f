"""Forgiving helpers over compat32 email.message objects: headers, charsets, parts."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from typing import Any

# Labels real mail uses that Python does not know, mapped to the codec that reads them.
_CHARSET_ALIASES = {
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
    "unknown": "utf-8",
    "x-user-defined": "cp1252",
    "iso-8859-8-i": "iso-8859-8",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "x-sjis": "shift_jis",
    "windows-874": "cp874",
    "ansi_x3.4-1968": "ascii",
    "gb2312": "gb18030",  # a superset: mail labelled gb2312 often uses gbk characters
    "gbk": "gb18030",
    "iso-2022-jp": "iso2022_jp_ext",
}
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_PARTS = 500  # a bound on pathological nesting; real mail has a handful
# Bytes of one header value that are read. The stdlib's encoded-word and address parsers are
# quadratic on some hostile values (a header may be a megabyte long); real headers are far
# shorter, and References keeps its newest ids, which are at the end.
MAX_HEADER = 16 * 1024


# Headers whose `; name=value` parameters the stdlib reads (boundary, charset, filename).
_PARAMETER_HEADERS = frozenset({"content-type", "content-disposition"})
MAX_PARAMETERS = 8 * 1024  # characters of such a header read: its parameter parser is quadratic


class BoundedMessage(Message):
    """compat32's Message, whose parameter headers are read only so far.

    The stdlib re-slices the rest of the value for every `;` it reads, so a Content-Type of a
    hundred thousand semicolons took seconds, during the parse itself (for the boundary)."""

    def get(self, name: str, failobj: Any = None) -> Any:
        value = super().get(name, failobj)
        if isinstance(value, str) and len(value) > MAX_PARAMETERS:
            if name.lower() in _PARAMETER_HEADERS:
                return value[:MAX_PARAMETERS]
        return value


def parse_message(raw: bytes) -> Message:
    return BytesParser(BoundedMessage, policy=compat32).parsebytes(raw)


def parse_headers(raw: bytes) -> Message:
    return BytesHeaderParser(BoundedMessage, policy=compat32).parsebytes(raw)


def codec_for(charset: str | None) -> str | None:
    """A Python codec name for a MIME charset label, or None when it is unknown."""
    if not charset:
        return None
    label = charset.strip().strip('"').lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes to text: the declared charset when it is real, else UTF-8, else Windows-1252."""
    codec = codec_for(charset)
    if codec and codec not in ("ascii", "us-ascii"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass  # mislabelled: fall through to the guesses below
        except Exception:  # some codecs raise other errors on garbage input
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec and codec not in ("ascii", "us-ascii"):
        try:
            return data.decode(codec, "replace")
        except Exception:
            pass
    return data.decode("cp1252", "replace")


def _bounded(value: bytes, keep_end: bool) -> bytes:
    if len(value) <= MAX_HEADER:
        return value
    return value[-MAX_HEADER:] if keep_end else value[:MAX_HEADER]


def raw_values(msg: Message, name: str) -> list[bytes]:
    """A header's values as the bytes that arrived (compat32 keeps them, surrogate-escaped),
    each at most MAX_HEADER bytes long."""
    wanted = name.lower()
    keep_end = wanted == "references"
    try:
        items = msg.raw_items()
        return [
            _bounded(str(value).encode("utf-8", "surrogateescape"), keep_end)
            for key, value in items
            if key.lower() == wanted
        ]
    except Exception:
        return []


def unfold(text: str) -> str:
    """Every run of whitespace that holds a line break becomes one space.

    Without a regular expression: the pattern this replaces rescanned each run of spaces that
    was not followed by a line break from every position in it (quadratic)."""
    if "\n" not in text:
        return text
    first, *middle, last = text.split("\n")
    inner = [piece.strip() for piece in middle]
    return " ".join([first.rstrip(), *(piece for piece in inner if piece), last.lstrip()])


def header_bytes_text(data: bytes) -> str:
    """Header bytes to text: encoded words in their charsets, raw 8-bit as UTF-8/Windows-1252."""
    if _ENCODED_WORD.search(data.decode("latin-1")):
        # latin-1 maps each byte to one character, so decode_header hands the bytes back intact.
        return decode_words(data.decode("latin-1"), raw_charset=True)
    return _CTRL.sub("", unfold(decode_bytes(data, None))).strip()


def header_text(msg: Message, name: str) -> str:
    """A header's (first) value as readable text: RFC 2047 words decoded, unfolded."""
    values = raw_values(msg, name)
    return header_bytes_text(values[0]) if values else ""


def decode_words(text: str, raw_charset: bool = False) -> str:
    """Decode RFC 2047 encoded words, each in its own charset, forgiving bad labels.

    With `raw_charset`, characters outside encoded words are bytes read as latin-1 and are
    re-decoded as UTF-8 (else Windows-1252), the way mail clients treat raw 8-bit headers.
    """
    text = unfold(text)
    if _ENCODED_WORD.search(text):
        try:
            out = []
            for chunk, charset in decode_header(text):
                if isinstance(chunk, str):
                    chunk = chunk.encode("latin-1", "replace") if raw_charset else chunk
                if isinstance(chunk, bytes):
                    out.append(decode_bytes(chunk, charset))
                else:
                    out.append(chunk)
            text = "".join(out)
        except Exception:
            pass  # keep the undecoded text rather than lose the subject
    elif raw_charset:
        text = decode_bytes(text.encode("latin-1", "replace"), None)
    return _CTRL.sub("", text).strip()


def addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of an address header; unparseable entries dropped."""
    try:
        values = [unfold(decode_bytes(v, None)) for v in raw_values(msg, name)]
        pairs = getaddresses(values)
    except Exception:
        return []
    result = []
    for display, addr in pairs:
        addr = addr.strip()
        if "@" in addr and " " not in addr:
            result.append((decode_words(display), addr))
    return result


def first_address(msg: Message, name: str) -> tuple[str, str]:
    found = addresses(msg, name)
    if found:
        return found[0]
    # getaddresses is strict about some forms parseaddr still reads.
    values = raw_values(msg, name)
    if not values:
        return "", ""
    try:
        display, addr = parseaddr(unfold(decode_bytes(values[0], None)))
    except Exception:
        return "", ""
    return (decode_words(display), addr) if "@" in addr else ("", "")


def walk(msg: Message) -> Iterator[Message]:
    """msg.walk() bounded in count, so hostile nesting cannot make us spin."""
    for count, part in enumerate(msg.walk()):
        if count >= MAX_PARTS:
            return
        yield part


def content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"


def param(part: Message, name: str, header: str = "content-type") -> str:
    try:
        value = part.get_param(name, header=header)
    except Exception:
        return ""
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        try:
            from email.utils import collapse_rfc2231_value

            return collapse_rfc2231_value(value)
        except Exception:
            return str(value[2])
    return decode_words(str(value)) if value else ""


def payload_bytes(part: Message) -> bytes:
    """The decoded body of a leaf part (base64/quoted-printable undone), never raising."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        raw = part.get_payload()
    except Exception:
        return b""
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def part_text(part: Message) -> str:
    """A text part decoded with its declared charset (with the fallbacks of decode_bytes)."""
    return decode_bytes(payload_bytes(part), param(part, "charset") or None)


def filename(part: Message) -> str:
    name = ""
    try:
        name = part.get_filename() or ""
    except Exception:
        name = param(part, "filename", "content-disposition")
    if not name:
        name = param(part, "name")
    if any("\udc80" <= ch <= "\udcff" for ch in name):
        name = decode_bytes(name.encode("utf-8", "surrogateescape"), None)
    return decode_words(name) if name else ""


def is_attachment(part: Message) -> bool:
    """A leaf part that is a file rather than the message text (an attached mail is a file)."""
    if content_type(part) in ("message/rfc822", "message/global"):
        return True
    if part.is_multipart():
        return False
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except Exception:
        disposition = ""
    if disposition == "attachment":
        return True
    kind = content_type(part)
    if kind in ("text/plain", "text/html") and not filename(part):
        return False
    return not kind.startswith("multipart/") and kind not in (
        "message/delivery-status",
        "message/disposition-notification",
        "message/feedback-report",
        "text/rfc822-headers",
    )

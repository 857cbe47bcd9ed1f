"""Strip quoted history and signatures from a reply, keeping what the customer just wrote."""

from __future__ import annotations

import re

# "On Mon, 3 Jun 2024 at 10:00, Ann <ann@x.org> wrote:" and its translations. The attribution
# may be wrapped over two lines by the client, so it is matched on a two-line window.
# Every pattern below is matched against one stripped line (or two joined) of at most MAX_LINE
# characters, and none repeats a quantifier over characters a neighbour also matches: each
# runs in time linear in that bounded line, whatever the customer wrote.
MAX_LINE = 500
_ATTRIBUTION = re.compile(
    r"(on\b.{0,200}\bwrote:|am\b.{0,200}\bschrieb.{0,80}:|le\b.{0,200}\ba [ée]crit ?:|"
    r"el\b.{0,200}\bescribi[óo] ?:|op\b.{0,200}\bschreef.{0,80}:|il\b.{0,200}\bha scritto ?:|"
    r"w dniu\b.{0,200}\bpisze ?:)",
    re.IGNORECASE | re.DOTALL,
)
# "Ann <ann@x.org> wrote:" alone is also common prose, so it only counts before a quote.
_GENERIC_ATTRIBUTION = re.compile(r".{0,200}\b(wrote|написал\(?а?\)?)\s*:", re.I | re.DOTALL)
_ORIGINAL = re.compile(
    r"-{2,}\s*(original message|urspr[üu]ngliche nachricht|message d'origine|"
    r"mensaje original|messaggio originale)\s*-{2,}|_{10,}",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"\*?(from|von|de|da|van|od)\s*:\*?(\s|$)", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"\*?(sent|date|to|subject|gesendet|datum|an|betreff|envoy[ée]|[àa]|objet|enviado|"
    r"fecha|para|asunto|cc)\s*:",
    re.IGNORECASE,
)
_SIG_DELIMITER = re.compile(r"^(-- ?|--|__+)$")
_MOBILE_SIGNATURE = re.compile(
    r"(sent from my \w+|sent from (outlook|mail|yahoo mail)|get outlook for \w+|"
    r"von meinem \w+ gesendet|envoy[ée] de mon \w+|enviado desde mi \w+|sent from my .{0,40})",
    re.IGNORECASE,
)


def _short(line: str) -> str:
    """The line stripped, or "" when it is too long to be a reply header or signature."""
    stripped = line.strip()
    return stripped if len(stripped) <= MAX_LINE else ""


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _cut_at_reply_header(lines: list[str], *, first_line_too: bool = False) -> list[str]:
    """Lines before the first reply header (attribution, Original Message, Outlook block)."""
    for index, raw in enumerate(lines):
        if index == 0 and not first_line_too:
            continue  # a reply header on the very first line means nothing was written above it
        line = _short(raw)
        if not line:
            continue
        nxt = _short(lines[index + 1]) if index + 1 < len(lines) else ""
        wrapped = f"{line} {nxt}" if nxt.endswith(":") else line
        after = [f for f in lines[index + 1 : index + 4] if f.strip()]
        quote_follows = any(_quoted(f) for f in after[:2])
        if _ATTRIBUTION.fullmatch(line) or _ATTRIBUTION.fullmatch(wrapped):
            return lines[:index]
        if quote_follows and (
            _GENERIC_ATTRIBUTION.fullmatch(line) or _GENERIC_ATTRIBUTION.fullmatch(wrapped)
        ):
            return lines[:index]
        if _ORIGINAL.fullmatch(line):
            return lines[:index]
        if _HEADER_FROM.match(line):
            following = (_short(f) for f in lines[index + 1 : index + 5])
            if sum(1 for f in following if _HEADER_NEXT.match(f)) >= 2:
                return lines[:index]
    return lines


def _drop_trailing_quote(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and (not lines[end - 1].strip() or _quoted(lines[end - 1])):
        end -= 1
    return lines[:end]


def _drop_signature(lines: list[str]) -> list[str]:
    for index in range(len(lines) - 1, 0, -1):
        if _SIG_DELIMITER.match(lines[index].rstrip("\r")) and len(lines) - index <= 15:
            return lines[:index]
    tail_start = max(1, len(lines) - 3)
    for index in range(tail_start, len(lines)):
        if _MOBILE_SIGNATURE.match(_short(lines[index])):
            return lines[:index]
    return lines


def strip_reply(text: str, *, keep_all_quote: bool = True) -> str:
    """What the sender wrote above the quoted history, without a trailing signature.

    Falls back to the whole text when stripping would leave nothing (a message that is all
    quote is still a message, and losing it would be worse than showing too much), unless
    `keep_all_quote` is False: an agent's reply that is all quote must not send the quoted
    notice, internal details and all, on to the customer.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = _cut_at_reply_header(lines, first_line_too=not keep_all_quote)
    kept = _drop_trailing_quote(kept)
    kept = _drop_signature(kept)
    result = "\n".join(kept).strip()
    return result if result or not keep_all_quote else text.strip()

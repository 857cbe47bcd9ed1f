"""Reading a customer's reply as a rating: `4`, `4/5`, `★★★★`, `4 - thanks`. When unsure, no.

Only the lines the customer wrote now count (above a quoted earlier message). A rating is a
number from 1 to the scale (or that many stars) standing alone or followed by a separator and a
short comment that asks nothing; "4 of my printers are down" is not one. Bounded: at most the
first few thousand characters are read, with patterns that cannot backtrack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MAX_CHARS = 4000
COMMENT_MAX = 200  # a rating's comment is short; a longer message says something more
# "4", "4/5", "4 / 5", "4 out of 5", "4 stars", then the rest after a separator (or nothing).
_NUMBER = re.compile(
    r"(\d{1,3})(?:\s{0,3}(?:/|out\s{1,3}of|of)\s{0,3}(\d{1,3}))?(?:\s{0,3}stars?\b)?"
    r"(?:\s{0,3}(?:[-–—:,.!)](?!\d)|$|\n)\s*|$)"
)
_STARS = re.compile(r"((?:[★⭐]\ufe0f?){1,10})(☆{0,10})\s*(?:[-–—:,.!]\s*)?")
_QUOTED_REPLY = re.compile(r"^(?:>|on .{0,200} wrote:|-{2,}\s*$|_{5,})", re.IGNORECASE)
_QUESTION = re.compile(r"[?¿]")


@dataclass(frozen=True)
class Rating:
    """A score from 1 to the scale, and whatever the customer wrote after it."""

    score: int
    comment: str = ""

    def event_text(self) -> str:
        """The `csat` event's text: the score's digit first (the statistics read it)."""
        return f"{self.score} {self.comment}".strip()


def _new_text(text: str) -> str:
    lines = []
    for line in text[:_MAX_CHARS].splitlines():
        if _QUOTED_REPLY.match(line.strip()):
            break
        lines.append(line.strip())
    return "\n".join(lines).strip()


def read_rating(text: str, scale: int) -> Rating | None:
    """The rating `text` is, or None when it is anything else (out of range, a question…)."""
    body = _new_text(text)
    if not body:
        return None
    score: int | None = None
    number = _NUMBER.match(body)
    if number is not None:
        score = int(number.group(1))
        out_of = number.group(2)
        if out_of is not None and int(out_of) != scale:
            return None  # "8/10" on a scale of 5: not ours to convert
        rest = body[number.end() :]
    else:
        stars = _STARS.match(body)
        if stars is None:
            return None
        score = len(stars.group(1).replace("\ufe0f", ""))
        if score + len(stars.group(2)) > scale:
            return None
        rest = body[stars.end() :]
    if not 1 <= score <= scale:
        return None
    comment = " ".join(rest.split())
    if len(comment) > COMMENT_MAX or _QUESTION.search(comment):
        return None
    return Rating(score, comment)

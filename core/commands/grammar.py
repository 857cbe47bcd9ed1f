"""The agent command grammar: parsing words into a Command, with specific errors."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from core.commands.timeparse import DEFAULT_CLOSE, DEFAULT_HOUR, TimePhraseError, parse_when
from core.storage.models import PRIORITIES

USAGE = {
    "reply": "reply <ticket> <text>",
    "note": "note <ticket> <text>",
    "eta": "eta <ticket> <when> [text]",
    "wait": "wait <ticket> <what> [text]",
    "resolve": "resolve <ticket> [text]",
    "close": "close <ticket>",
    "reopen": "reopen <ticket>",
    "take": "take <ticket>",
    "assign": "assign <ticket> <agent>",
    "priority": "priority <ticket> urgent|high|normal|low",
    "show": "show <ticket>",
    "list": "list [mine|open|overdue|waiting]",
}


_TICKET = re.compile(r"^(?:t-|#)?(\d{1,12})$", re.IGNORECASE)


# A quoted <what>: "…", “…” or '…', ended by its closing mark before a space or the end (so
# the apostrophe in "vendor's" ends nothing). At most 300 characters: bounded on any input.
_QUOTED = re.compile(
    r"""^\s*(?:"((?:[^"]|"(?!\s|$)){1,300})"|“((?:[^”]|”(?!\s|$)){1,300})”"""
    r"""|'((?:[^']|'(?!\s|$)){1,300})')(?:\s+|$)(.*)$""",
    re.DOTALL,
)


LIST_FILTERS = ("open", "mine", "overdue", "waiting")


class CommandError(ValueError):
    """Bad input: the message says exactly what was wrong; nothing was changed."""


@dataclass(frozen=True)
class Command:
    verb: str
    ticket: int | None = None
    text: str = ""
    when: datetime | None = None
    what: str = ""
    agent: str = ""
    priority: str = ""
    filter: str = "open"


def parse_ticket(word: str) -> int:
    match = _TICKET.match(word.strip())
    if not match:
        raise CommandError(f'"{word}" is not a ticket; write T-42, #42 or 42')
    return int(match.group(1))


def _split(text: str) -> tuple[str, str]:
    parts = text.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def join_argv(argv: Sequence[str]) -> str:
    """Command-line words as one grammar line, keeping each argument one unit.

    The shell has already taken the quotes off: `wait T-1 "the vendor's fix" ETA Tuesday`
    arrives as five arguments. The one argument the grammar reads as a unit, wait's <what>, is
    quoted again when it has spaces; everything else reads the same joined with spaces."""
    words = [str(word) for word in argv]
    if len(words) > 2 and words[0].lower() == "wait" and len(words[2].split()) > 1:
        what = words[2].strip()
        for opening, closing in (('"', '"'), ("“", "”"), ("'", "'")):
            if opening not in what and closing not in what:
                words[2] = f"{opening}{what}{closing}"
                break
    return " ".join(words).strip()


def parse(
    text: str,
    now: datetime,
    tz: ZoneInfo,
    *,
    opens: time = DEFAULT_HOUR,
    closes: time = DEFAULT_CLOSE,
) -> Command:
    """Parse grammar words; raise CommandError naming the problem.

    `opens` and `closes` are the configured business hours: "tomorrow" means tomorrow at
    `opens`, "eod" the day's `closes`."""
    verb, rest = _split(text)
    verb = verb.lower()
    if not verb or verb == "help":
        raise CommandError("commands: " + "; ".join(USAGE.values()))
    if verb not in USAGE:
        raise CommandError(f'unknown command "{verb}"; commands: ' + ", ".join(USAGE))
    if verb == "list":
        which = rest.strip().lower() or "open"
        if which not in LIST_FILTERS:
            raise CommandError(f'cannot list "{which}"; usage: {USAGE["list"]}')
        return Command("list", filter=which)
    ticket_word, rest = _split(rest)
    if not ticket_word:
        raise CommandError(f"missing ticket; usage: {USAGE[verb]}")
    number = parse_ticket(ticket_word)
    rest = rest.strip()
    if verb in ("reply", "note"):
        if not rest:
            raise CommandError(f"missing text; usage: {USAGE[verb]}")
        return Command(verb, number, text=rest)
    if verb == "eta":
        return _eta(number, rest, now, tz, opens, closes)
    if verb == "wait":
        return _wait(number, rest)
    if verb == "assign":
        agent = rest.split()[0] if rest else ""
        if not agent:
            raise CommandError(f"missing agent; usage: {USAGE['assign']}")
        return Command("assign", number, agent=agent)
    if verb == "priority":
        level = rest.lower()
        if level not in PRIORITIES:
            raise CommandError(f'"{rest}" is not a priority; use urgent, high, normal or low')
        return Command("priority", number, priority=level)
    if rest and verb in ("close", "reopen", "take", "show"):
        raise CommandError(f"unexpected words after the ticket; usage: {USAGE[verb]}")
    return Command(verb, number, text=rest)


def _eta(number: int, rest: str, now: datetime, tz: ZoneInfo, opens: time, closes: time) -> Command:
    words = rest.split()
    if not words:
        raise CommandError(f"missing time; usage: {USAGE['eta']}")
    try:
        when, used = parse_when(words, now, tz, opens=opens, closes=closes)
    except TimePhraseError as exc:
        raise CommandError(str(exc)) from exc
    if when <= now:
        raise CommandError("that time is in the past; an ETA must be in the future")
    return Command("eta", number, when=when, text=" ".join(words[used:]))


def _wait(number: int, rest: str) -> Command:
    if not rest:
        raise CommandError(f"missing what we are waiting on; usage: {USAGE['wait']}")
    quoted = _QUOTED.match(rest)
    if quoted:
        what = next(group for group in quoted.groups()[:3] if group is not None)
        return Command("wait", number, what=what.strip(), text=quoted.group(4))
    return Command("wait", number, what=rest)

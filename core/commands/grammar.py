"""The agent command grammar: parsing words into a Command, with specific errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from core.commands.timeparse import TimePhraseError, parse_when
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


_QUOTED = re.compile(r'^\s*(["“\'])(.+?)(["”\'])(?:\s+|$)(.*)$', re.DOTALL)


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


def parse(text: str, now: datetime, tz: ZoneInfo) -> Command:
    """Parse grammar words; raise CommandError naming the problem."""
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
        words = rest.split()
        if not words:
            raise CommandError(f"missing time; usage: {USAGE['eta']}")
        try:
            when, used = parse_when(words, now, tz)
        except TimePhraseError as exc:
            raise CommandError(str(exc)) from exc
        if when <= now:
            raise CommandError("that time is in the past; an ETA must be in the future")
        return Command("eta", number, when=when, text=" ".join(words[used:]))
    if verb == "wait":
        if not rest:
            raise CommandError(f"missing what we are waiting on; usage: {USAGE['wait']}")
        quoted = _QUOTED.match(rest)
        if quoted:
            return Command("wait", number, what=quoted.group(2).strip(), text=quoted.group(4))
        return Command("wait", number, what=rest)
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

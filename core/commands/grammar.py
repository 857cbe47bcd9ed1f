"""The agent command grammar: parsing words into a Command, with specific errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time
from zoneinfo import ZoneInfo

from core.commands.timeparse import DEFAULT_CLOSE, DEFAULT_HOUR, TimePhraseError, parse_when
from core.storage.models import PRIORITIES

_TICKET = re.compile(r"^(?:t-|#)?(\d{1,12})$", re.IGNORECASE)
_INCIDENT = re.compile(r"^inc-(\d{1,12})$", re.IGNORECASE)
# The verbs whose <ticket> may also be an incident: the update goes to every linked ticket.
INCIDENT_AWARE = frozenset({"reply", "eta", "wait", "resolve", "show"})
TITLE_MAX = 200
SERVICE_MAX = 100


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
    incident: int | None = None
    other: int | None = None  # `same`: the second ticket


def parse_ticket(word: str) -> int:
    match = _TICKET.match(word.strip())
    if not match:
        raise CommandError(f'"{word}" is not a ticket; write T-42, #42 or 42')
    return int(match.group(1))


def parse_incident(word: str) -> int:
    match = _INCIDENT.match(word.strip())
    if not match:
        raise CommandError(f'"{word}" is not an incident; write INC-7')
    return int(match.group(1))


def _split(text: str) -> tuple[str, str]:
    parts = text.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


@dataclass(frozen=True)
class _Words:
    """What follows `<verb> <ticket>`, with what reading a time needs."""

    verb: str
    ticket: int
    rest: str
    now: datetime
    tz: ZoneInfo
    opens: time
    closes: time

    def missing(self, what: str) -> CommandError:
        return CommandError(f"missing {what}; usage: {USAGE[self.verb]}")


def _text_needed(words: _Words) -> Command:
    if not words.rest:
        raise words.missing("text")
    return Command(words.verb, words.ticket, text=words.rest)


def _text_optional(words: _Words) -> Command:
    return Command(words.verb, words.ticket, text=words.rest)


def _ticket_only(words: _Words) -> Command:
    if words.rest:
        raise CommandError(f"unexpected words after the ticket; usage: {USAGE[words.verb]}")
    return Command(words.verb, words.ticket)


def _eta(words: _Words) -> Command:
    phrase = words.rest.split()
    if not phrase:
        raise words.missing("time")
    try:
        when, used = parse_when(phrase, words.now, words.tz, opens=words.opens, closes=words.closes)
    except TimePhraseError as exc:
        raise CommandError(str(exc)) from exc
    if when <= words.now:
        raise CommandError("that time is in the past; an ETA must be in the future")
    return Command("eta", words.ticket, when=when, text=" ".join(phrase[used:]))


def _wait(words: _Words) -> Command:
    if not words.rest:
        raise words.missing("what we are waiting on")
    quoted = _QUOTED.match(words.rest)
    if quoted:
        what = next(group for group in quoted.groups()[:3] if group is not None)
        return Command("wait", words.ticket, what=what.strip(), text=quoted.group(4))
    return Command("wait", words.ticket, what=words.rest)


def _assign(words: _Words) -> Command:
    agent = words.rest.split()[0] if words.rest else ""
    if not agent:
        raise words.missing("agent")
    return Command("assign", words.ticket, agent=agent)


def _priority(words: _Words) -> Command:
    level = words.rest.lower()
    if level not in PRIORITIES:
        raise CommandError(f'"{words.rest}" is not a priority; use urgent, high, normal or low')
    return Command("priority", words.ticket, priority=level)


def _search(rest: str) -> Command:
    if not rest.strip():
        raise CommandError(f"missing words; usage: {USAGE['search']}")
    return Command("search", text=rest.strip())


def _replies(rest: str) -> Command:
    if rest.strip():
        raise CommandError(f"unexpected words; usage: {USAGE['replies']}")
    return Command("replies")


def _same(words: _Words) -> Command:
    other_word, extra = _split(words.rest)
    if not other_word:
        raise words.missing("second ticket")
    if extra:
        raise CommandError(f"unexpected words after the second ticket; usage: {USAGE['same']}")
    other = parse_ticket(other_word)
    if other == words.ticket:
        raise CommandError(f"T-{other} twice: `same` links the requesters of two different tickets")
    return Command("same", words.ticket, other=other)


def _link(words: _Words) -> Command:
    incident_word, extra = _split(words.rest)
    if not incident_word:
        raise words.missing("incident")
    if extra:
        raise CommandError(f"unexpected words after the incident; usage: {USAGE['link']}")
    return Command("link", words.ticket, incident=parse_incident(incident_word))


def _incident(rest: str) -> Command:
    """`incident <title> [<service>]`: a title ending in brackets names the affected service."""
    title, service = " ".join(rest.split()), ""
    if title.endswith("]") and "[" in title:
        opening = title.rindex("[")
        title, service = title[:opening].strip(), title[opening + 1 : -1].strip()
        if not service:
            raise CommandError("the [service] after the title is empty")
        if len(service) > SERVICE_MAX:
            raise CommandError(f"the service has {len(service)} characters; at most {SERVICE_MAX}")
    if not title:
        raise CommandError(f"missing title; usage: {USAGE['incident']}")
    if len(title) > TITLE_MAX:
        raise CommandError(f"the title has {len(title)} characters; at most {TITLE_MAX}")
    return Command("incident", text=title, what=service)


def _log(rest: str) -> Command:
    """`log <who> <text>`: <who> is one word (an address, a mention) or a quoted name."""
    if not rest.strip():
        raise CommandError(f"missing who and text; usage: {USAGE['log']}")
    quoted = _QUOTED.match(rest)
    if quoted:
        who = next(group for group in quoted.groups()[:3] if group is not None).strip()
        text = quoted.group(4).strip()
    else:
        who, text = _split(rest)
    if not who:
        raise CommandError(f"missing who; usage: {USAGE['log']}")
    if not text.strip():
        raise CommandError(f"missing text: what was the call about? usage: {USAGE['log']}")
    return Command("log", what=who, text=text.strip())


_SUGGESTION = re.compile(r"^p-(\d{1,12})$", re.IGNORECASE)


def _confirm(rest: str) -> Command:
    """`confirm P-3`: open possible incident P-3 (the number is carried as the text)."""
    word, extra = _split(rest)
    if not word:
        raise CommandError(f"missing possible incident; usage: {USAGE['confirm']}")
    match = _SUGGESTION.match(word)
    if not match:
        raise CommandError(f'"{word}" is not a possible incident; write P-3')
    if extra:
        raise CommandError(f"unexpected words after {word}; usage: {USAGE['confirm']}")
    return Command("confirm", text=match.group(1))


def _list(rest: str) -> Command:
    which = rest.strip().lower() or "open"
    if which not in LIST_FILTERS:
        raise CommandError(f'cannot list "{which}"; usage: {USAGE["list"]}')
    return Command("list", filter=which)


# One row per verb: its usage line and how the words after it are read. Verbs about one ticket
# read `<ticket>` first; verbs about the whole desk read whatever follows.
TICKET_GRAMMAR: dict[str, tuple[str, Callable[[_Words], Command]]] = {
    "reply": ("reply <ticket> <text>|@<saved reply>", _text_needed),
    "note": ("note <ticket> <text>", _text_needed),
    "eta": ("eta <ticket> <when> [text]", _eta),
    "wait": ("wait <ticket> <what> [text]", _wait),
    "resolve": ("resolve <ticket> [text]", _text_optional),
    "close": ("close <ticket>", _ticket_only),
    "reopen": ("reopen <ticket>", _ticket_only),
    "take": ("take <ticket>", _ticket_only),
    "assign": ("assign <ticket> <agent>", _assign),
    "priority": ("priority <ticket> urgent|high|normal|low", _priority),
    "show": ("show <ticket>", _ticket_only),
    "link": ("link <ticket> <INC-n>", _link),
    "unlink": ("unlink <ticket>", _ticket_only),
    "same": ("same <ticket> <ticket>", _same),
    "similar": ("similar <ticket>", _ticket_only),
}


def _since(rest: str) -> Command:
    # The period is read (and refused when it is not one) by the statistics, which own its rules.
    return Command("stats", text=rest.strip())


DESK_GRAMMAR: dict[str, tuple[str, Callable[[str], Command]]] = {
    "list": ("list [mine|open|overdue|waiting]", _list),
    "stats": ("stats [since]", _since),
    "search": ("search <words>", _search),
    "replies": ("replies", _replies),
    "incident": ("incident <title> [[service]]", _incident),
    "log": ("log <who> <text>", _log),
    "confirm": ("confirm <P-n>", _confirm),
}
USAGE = {verb: usage for verb, (usage, _) in (TICKET_GRAMMAR | DESK_GRAMMAR).items()}


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
    if verb in DESK_GRAMMAR:
        return DESK_GRAMMAR[verb][1](rest)
    ticket_word, rest = _split(rest)
    if not ticket_word:
        raise CommandError(f"missing ticket; usage: {USAGE[verb]}")
    reader = TICKET_GRAMMAR[verb][1]
    if _INCIDENT.match(ticket_word):
        # `reply INC-7 …`: read like a ticket verb, then aimed at the incident instead.
        if verb not in INCIDENT_AWARE:
            aware = ", ".join(sorted(INCIDENT_AWARE))
            raise CommandError(f"`{verb}` takes a ticket, not an incident; incidents take {aware}")
        number = parse_incident(ticket_word)
        command = reader(_Words(verb, number, rest.strip(), now, tz, opens, closes))
        return replace(command, ticket=None, incident=number)
    words = _Words(verb, parse_ticket(ticket_word), rest.strip(), now, tz, opens, closes)
    return reader(words)

"""Pure rendering of triage cards: the embed, its buttons and their restart-proof custom ids."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from core.channel import TicketCard

# Buttons carry everything they need in their custom id, so a click after a restart still
# names its ticket: "tidings:<action>:<ticket number>".
CUSTOM_ID = re.compile(r"^tidings:(?P<action>take|eta|wait|resolve|reopen):(?P<number>\d{1,9})$")
# A customer's rating button on a resolution message: "tidings:rate:<ticket number>:<score>".
RATING_ID = re.compile(r"^tidings:rate:(?P<number>\d{1,9}):(?P<score>[1-9])$")

# A button that runs grammar words (core's BUTTON_WORDS) for whoever presses it:
# "tidings:do:link T-5 INC-1" ("Link to INC-1"), "tidings:do:confirm P-2" ("Open incident").
WORDS_ID = re.compile(r"^tidings:do:(?P<words>link T-\d{1,9} INC-\d{1,9}|confirm P-\d{1,9})$")

COLOURS = {"urgent": 0xE03131, "high": 0xF08C00, "normal": 0x1C7ED6, "low": 0x868E96}
DONE_COLOUR = 0x2F9E44
DONE = frozenset({"resolved", "closed"})
FOOTER = "Reply in this card's thread to answer the customer; start with note: to keep it internal."

# (action, label, discord.ButtonStyle value): 1 primary, 2 secondary, 3 success.
OPEN_BUTTONS = (
    ("take", "Take", 1),
    ("eta", "Set ETA", 2),
    ("wait", "Waiting", 2),
    ("resolve", "Resolve", 3),
)
DONE_BUTTONS = (("reopen", "Reopen", 2),)


def custom_id(action: str, number: int) -> str:
    return f"tidings:{action}:{number}"


def rating_id(number: int, score: int) -> str:
    return f"tidings:rate:{number}:{score}"


def parse_custom_id(value: str) -> tuple[str, int] | None:
    match = CUSTOM_ID.match(value)
    if match is None:
        return None
    return match["action"], int(match["number"])


def _when(moment: datetime | None, style: str, empty: str) -> str:
    # Discord renders <t:…> in each reader's own timezone.
    return f"<t:{int(moment.timestamp())}:{style}>" if moment else empty


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card_embed(card: TicketCard) -> dict[str, Any]:
    """The card as a Discord embed (JSON shape, within Discord's length limits)."""
    fields = [
        ("Status", card.status, True),
        ("Priority", card.priority, True),
        ("Assignee", card.assignee or "nobody yet", True),
        ("From", f"{card.requester} via {card.channel}", True),
        ("ETA", _when(card.eta, "f", "not set"), True),
        ("Next update", _when(card.next_update_due, "R", "none due"), True),
        ("Customer last wrote", _when(card.latest_at, "R", "not yet"), True),
    ]
    if card.waiting_on:
        fields.append(("Waiting on", card.waiting_on, False))
    if card.latest.strip():
        # The description keeps the first message; the latest one is under it.
        who = card.latest_by or card.requester
        fields.append((f"Latest from {who}", f"{_when(card.latest_at, 'f', '')}\n{card.latest}",
                       False))  # fmt: skip
    if card.similar:
        lines = [
            f"{m.ref} {_cut(m.subject, 80)} ({m.score}%)"
            + (f" · {m.incident}" if m.incident and m.incident != m.ref else "")
            for m in card.similar
        ]
        fields.append(("Looks like", "\n".join(lines), False))
    return {
        "title": _cut(f"{card.ref} · {card.subject}", 256),
        "description": _cut(card.excerpt, 4096),
        "color": DONE_COLOUR if card.status in DONE else COLOURS.get(card.priority, 0),
        "fields": [
            {"name": name, "value": _cut(value or "-", 1024), "inline": inline}
            for name, value, inline in fields
        ],
        "footer": {"text": FOOTER},
    }


def card_buttons(card: TicketCard) -> list[tuple[str, str, int]]:
    """(custom id, label, style) for each button the card shows in its current state."""
    buttons = DONE_BUTTONS if card.status in DONE else OPEN_BUTTONS
    return [(custom_id(action, card.number), label, style) for action, label, style in buttons]


def words_id(words: str) -> str:
    return f"tidings:do:{words}"


def link_button(card: TicketCard) -> tuple[str, str] | None:
    """(custom id, label) of the card's "Link to INC-n" button, when it has one."""
    link = card.link_button()
    return None if link is None else (words_id(link[1]), link[0])

"""Every customer-facing text, as the customer reads it on each channel, reads as sentences.

Each template is rendered for a ticket with and without an ETA, an assignee and a waiting
reason, then put through each channel's own formatting (the mail body as a client decodes it,
Slack's text unescaped, Discord's chunks joined), and read for the defects customers saw:
a lowercase sentence start, paragraphs run together or blank lines doubled, a "Re:" or ticket
tag quoted from the subject, "not set", and a date next year without its year."""

from __future__ import annotations

import html
import itertools
import re
from datetime import UTC, datetime
from email import message_from_bytes
from typing import Any

import pytest

from channels.discord.translate import split_text
from channels.email.outbound import build_message
from channels.slack.outbound import message_args
from core.channel import OutboundMessage, ReplyTarget
from core.texts import Texts

NOW = datetime(2026, 12, 28, 9, 0, tzinfo=UTC)  # late in the year: next week is next year
NEXT_YEAR = datetime(2027, 1, 5, 15, 0, tzinfo=UTC)
SOON = datetime(2026, 12, 29, 10, 0, tzinfo=UTC)
CUSTOMER_FACING = ["ack", "agent_reply", "apology", "eta_set", "reopened", "resolved",
                   "status_update", "waiting"]  # fmt: skip
CHANNELS = ["email", "slack", "discord"]


def _as_read(channel: str, text: str) -> str:
    """The text as the customer's client shows it."""
    message = OutboundMessage("T-1", "Re: [T-1] Login broken", text, "update", False, "tok-1")
    if channel == "email":
        mail = build_message(ReplyTarget("email", "carol@example.com", ""), message,
                             from_address="support@example.com", now=NOW)  # fmt: skip
        parsed = message_from_bytes(mail.as_bytes())
        body = parsed.get_payload(decode=True)
        assert isinstance(body, bytes)
        return body.decode("utf-8").replace("\r\n", "\n").rstrip("\n")
    if channel == "slack":
        return html.unescape(message_args(ReplyTarget("slack", "C1", "1.2"), message)["text"])
    return "\n".join(split_text(text))


def _ticket(eta: bool, assignee: bool, waiting: bool) -> dict[str, Any]:
    return {
        "ref": "T-1",
        "subject": "Re: [T-1] Login broken",  # a follow-up's subject, as mail threads carry it
        "name": "Carol",
        "agent": "alice",
        "assignee": "alice" if assignee else "",
        "status": "waiting" if waiting else "open",
        "waiting_on": "the vendor's patch" if waiting else "",
        "eta": NEXT_YEAR if eta else None,
        "previous_eta": SOON if eta else None,
        "new_eta": NEXT_YEAR if eta else None,
        "missed_eta": SOON,
        "next_update": NEXT_YEAR,
        "text": "We found the cause.",
        "reopen_days": 7,
        "now": NOW,
    }


CASES = [
    (name, channel, *flags)
    for name in CUSTOMER_FACING
    for channel in CHANNELS
    for flags in itertools.product([True, False], repeat=3)
    # A waiting message always has what we wait on; an ETA message, the ETA that was set.
    if not (name == "waiting" and not flags[2]) and not (name == "eta_set" and not flags[0])
]


def _sentences_start_with_capitals(text: str) -> list[str]:
    problems = []
    for paragraph in text.split("\n\n"):
        first = paragraph.lstrip("—(¡¿ ")
        if first and first[0].isalpha() and not first[0].isupper():
            problems.append(paragraph)
        for match in re.finditer(r"[.!?] +([a-z])", paragraph):
            problems.append(paragraph[max(0, match.start() - 20) : match.end() + 20])
    return problems


@pytest.mark.parametrize(("name", "channel", "eta", "assignee", "waiting"), CASES)
def test_each_text_reads_as_sentences_on_each_channel(
    name: str, channel: str, eta: bool, assignee: bool, waiting: bool
) -> None:
    texts = Texts("", "UTC", people={"alice": "Alice Smith"})
    rendered = texts.render(name, **_ticket(eta, assignee, waiting))
    read = _as_read(channel, rendered)
    assert _sentences_start_with_capitals(read) == [], read
    assert "\n\n\n" not in read and not read.startswith("\n"), read
    assert all(line == line.rstrip() for line in read.splitlines()), read
    assert not any("  " in line for line in read.splitlines()), read
    assert "Re:" not in read and "[T-1]" not in read, read
    assert "not set" not in read, read
    assert "by ," not in read and "on  " not in read, read
    for paragraph in read.split("\n\n"):
        # A paragraph is one or more whole lines; a line that is not a sentence is a signature.
        last = paragraph.rstrip()
        assert last[-1] in ".!)" or paragraph.startswith(("—", "T-1", "Hello")), paragraph
    if "Jan" in read:
        assert "Jan 2027" in read, read  # a date next year carries its year
    if "Dec" in read:
        assert "Dec 2026" not in read, read  # this year's dates do not


def test_an_eta_moved_earlier_says_so_with_what_we_said_before() -> None:
    texts = Texts("", "Europe/Berlin")
    friday = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    sunday = datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
    first = texts.render("eta_set", **{**_ticket(True, True, False), "eta": sunday,
                                       "previous_eta": None, "missed_eta": None,
                                       "now": datetime(2026, 11, 23, 9, tzinfo=UTC)})  # fmt: skip
    assert "Update on T-1: we expect this to be resolved by Sun 29 Nov, 17:00" in first
    moved = texts.render("eta_set", **{**_ticket(True, True, False), "eta": friday,
                                       "previous_eta": sunday, "missed_eta": None,
                                       "now": datetime(2026, 11, 23, 9, tzinfo=UTC)})  # fmt: skip
    assert moved.startswith(
        "Update on T-1: we now expect this to be resolved by Fri 27 Nov, 17:00 (Europe/Berlin) "
        "(earlier we said Sun 29 Nov, 17:00)."
    ), moved


def test_replies_are_signed_with_the_display_name_and_the_team() -> None:
    texts = Texts("", "UTC", people={"alice": "Alice Smith"}, team="Example Support")
    reply = texts.render("agent_reply", **_ticket(False, True, False))
    assert "— Alice Smith, Example Support" in reply
    assert "— bob, Example Support" in texts.render(
        "resolved", **{**_ticket(False, True, False), "agent": "bob"}
    )


def test_the_clock_comes_from_the_caller_not_the_wall() -> None:
    class Frozen:
        def now(self) -> datetime:
            return datetime(2027, 3, 1, tzinfo=UTC)

    texts = Texts("", "UTC", clock=Frozen())
    # A 2026 date read in 2027 (the injected clock's year) carries its year.
    assert texts.when(SOON) == "Tue 29 Dec 2026, 10:00 (UTC)"
    values = {k: v for k, v in _ticket(True, True, False).items() if k != "now"}
    assert "Tue 5 Jan, 15:00" in texts.render("status_update", **values)


def test_the_context_gives_its_clock_and_people_to_the_texts() -> None:
    """`Texts.render` once fell back to the wall clock instead of the Context's."""
    from core.clock import FakeClock
    from core.config import load_settings
    from core.context import Context

    settings = load_settings(
        None, agents={"alice": {"display_name": "Alice Smith"}}, email={"from_name": "Acme Help"}
    )
    ctx = Context(settings, FakeClock(datetime(2027, 3, 1, tzinfo=UTC)))
    assert ctx.texts.when(SOON) == "Tue 29 Dec 2026, 10:00 (UTC)"
    values = {k: v for k, v in _ticket(False, True, False).items() if k != "now"}
    assert "— Alice Smith, Acme Help" in ctx.texts.render("resolved", **values)

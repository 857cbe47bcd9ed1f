"""Time phrases in the configured timezone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from core.commands.grammar import CommandError, join_argv, parse
from core.commands.timeparse import TimePhraseError, parse_when

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 15:00 in Berlin
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("phrase", "expected", "used"),
    [
        ("in 2h", datetime(2026, 11, 23, 16, 0, tzinfo=UTC), 2),
        ("in 90s", datetime(2026, 11, 23, 14, 1, 30, tzinfo=UTC), 2),
        ("in 3 days more words", datetime(2026, 11, 26, 14, 0, tzinfo=UTC), 3),
        ("tomorrow 15:00 vendor patch", datetime(2026, 11, 24, 14, 0, tzinfo=UTC), 2),
        ("tomorrow at 4pm", datetime(2026, 11, 24, 15, 0, tzinfo=UTC), 3),
        ("friday", datetime(2026, 11, 27, 8, 0, tzinfo=UTC), 1),
        ("monday 10:00", datetime(2026, 11, 30, 9, 0, tzinfo=UTC), 2),
        ("2026-12-01 09:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC), 2),
        ("2026-12-01T09:00:00Z", datetime(2026, 12, 1, 9, 0, tzinfo=UTC), 1),
        ("16:30", datetime(2026, 11, 23, 15, 30, tzinfo=UTC), 1),
        ("14:00", datetime(2026, 11, 24, 13, 0, tzinfo=UTC), 1),
    ],
)
def test_phrases(phrase: str, expected: datetime, used: int) -> None:
    assert parse_when(phrase.split(), NOW, BERLIN) == (expected, used)


@pytest.mark.parametrize("phrase", ["someday", "in two hours", "in 2 fortnights", "25:00", ""])
def test_unparseable_phrases_say_what_we_accept(phrase: str) -> None:
    with pytest.raises(TimePhraseError, match="tomorrow 15:00"):
        parse_when(phrase.split(), NOW, BERLIN)


NEW_PHRASES = [
    # "tomorrow" and weekdays mean the opening hour (08:30 here), not a fixed 09:00.
    ("tomorrow", datetime(2026, 11, 24, 7, 30, tzinfo=UTC), 1),
    ("next monday", datetime(2026, 11, 30, 7, 30, tzinfo=UTC), 2),
    ("next monday noon", datetime(2026, 11, 30, 11, 0, tzinfo=UTC), 3),
    ("noon", datetime(2026, 11, 24, 11, 0, tzinfo=UTC), 1),  # today's noon has passed
    ("eod", datetime(2026, 11, 23, 16, 30, tzinfo=UTC), 1),  # closes at 17:30 in Berlin
    ("tomorrow eod", datetime(2026, 11, 24, 16, 30, tzinfo=UTC), 2),
    ("today", datetime(2026, 11, 23, 16, 30, tzinfo=UTC), 1),
    ("1 dec", datetime(2026, 12, 1, 7, 30, tzinfo=UTC), 2),
    ("dec 1st at 3 pm", datetime(2026, 12, 1, 14, 0, tzinfo=UTC), 5),
    ("1 december 2027 10:00", datetime(2027, 12, 1, 9, 0, tzinfo=UTC), 4),
    ("10 nov", datetime(2027, 11, 10, 7, 30, tzinfo=UTC), 2),  # passed this year: next year's
    ("29 feb", datetime(2028, 2, 29, 7, 30, tzinfo=UTC), 2),
    ("noon tomorrow", datetime(2026, 11, 24, 11, 0, tzinfo=UTC), 2),
    ("next week", datetime(2026, 11, 30, 7, 30, tzinfo=UTC), 2),
    ("on friday at 16:00 vendor", datetime(2026, 11, 27, 15, 0, tzinfo=UTC), 4),
    ("tomorrow 3 vendors", datetime(2026, 11, 24, 7, 30, tzinfo=UTC), 1),
]


@pytest.mark.parametrize(("phrase", "expected", "used"), NEW_PHRASES)
def test_days_use_the_configured_business_hours(phrase: str, expected: datetime, used: int) -> None:
    opens, closes = time(8, 30), time(17, 30)
    assert parse_when(phrase.split(), NOW, BERLIN, opens=opens, closes=closes) == (
        expected,
        used,
    )


@pytest.mark.parametrize(
    ("phrase", "named"),
    [
        ("tomorrow 25:00", '"25:00" is not a time of day'),
        ("tomorrow 24:61", '"24:61" is not a time of day'),
        ("friday 13:60", '"13:60" is not a time of day'),
        ("monday 13pm", '"13pm" is not a time of day'),
        ("31 feb", '"31 feb" is not a date'),
        ("30 feb 2027", '"30 feb" is not a date'),
        ("2026-02-31", '"2026-02-31" is not a date'),
        ("2026-12-01 25:00", '"25:00" is not a time of day'),
        ("tomorrow at", '"at" needs a time'),
        ("friday at lunch", '"lunch" is not a time of day'),
    ],
)
def test_an_impossible_time_or_date_is_an_error_naming_it(phrase: str, named: str) -> None:
    with pytest.raises(TimePhraseError, match=re.escape(named)):
        parse_when(phrase.split(), NOW, BERLIN)


def test_text_after_the_time_is_never_taken_from_the_time_phrase() -> None:
    """`eta T-1 tomorrow 25:00` once printed an ETA and mailed the customer just "25:00"."""
    with pytest.raises(CommandError, match='"25:00" is not a time of day'):
        parse("eta T-1 tomorrow 25:00", NOW, BERLIN)
    command = parse("eta T-1 tomorrow 15:00 The vendor ships a fix.", NOW, BERLIN)
    assert command.text == "The vendor ships a fix."
    assert parse("eta T-1 friday", NOW, BERLIN, opens=time(7, 0)).when == datetime(
        2026, 11, 27, 6, 0, tzinfo=UTC
    )


def test_each_command_line_argument_stays_one_unit() -> None:
    """`wait T-1 "the vendor's fix" ETA Tuesday` lost its quoting when argv was joined."""
    argv = ["wait", "T-1", "the vendor's fix", "ETA", "Tuesday"]
    command = parse(join_argv(argv), NOW, BERLIN)
    assert (command.what, command.text) == ("the vendor's fix", "ETA Tuesday")
    quoted = ["wait", "T-1", 'the "blue" switch', "soon"]
    assert parse(join_argv(quoted), NOW, BERLIN).what == 'the "blue" switch'
    assert parse(join_argv(["wait", "T-1", "vendor"]), NOW, BERLIN).what == "vendor"
    reply = parse(join_argv(["reply", "T-1", "Fixed; please try again."]), NOW, BERLIN)
    assert reply.text == "Fixed; please try again."

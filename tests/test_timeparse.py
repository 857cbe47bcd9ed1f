"""Time phrases in the configured timezone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

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

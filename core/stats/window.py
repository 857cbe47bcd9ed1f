"""The period statistics cover: `--since 30d`, `since 2026-11-01`, up to now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from core.config import parse_duration

DEFAULT_SINCE = "30d"
# Longer than this is almost certainly a typo, and the daily series would be huge.
LONGEST = timedelta(days=3660)


class StatsError(ValueError):
    """Bad input to a statistics request; the message says what to write instead."""


@dataclass(frozen=True)
class Window:
    """[since, until] in UTC: until is now, and what happened this instant counts."""

    since: datetime
    until: datetime

    @property
    def days(self) -> list[date]:
        """Every UTC day the window touches, oldest first (the charts' x axis)."""
        first, last = self.since.date(), (self.until - timedelta(microseconds=1)).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def parse_window(since: str | None, now: datetime) -> Window:
    """Read `since` as a duration back from now ("30d", "12h", "2w") or a date/time (ISO 8601,
    UTC unless it names a zone). Anything else is a StatsError naming what was given."""
    text = (since or DEFAULT_SINCE).strip()
    start = _as_duration(text, now)
    if start is None:
        start = _as_moment(text)
    if start is None:
        raise StatsError(
            f'since {text!r}: write a duration back from now like "30d", "12h" or "2w", '
            'or a date like "2026-11-01"'
        )
    if start >= now:
        raise StatsError(f"since {text!r}: that is not in the past")
    if now - start > LONGEST:
        raise StatsError(f"since {text!r}: at most {LONGEST.days} days back")
    return Window(start, now)


def _as_duration(text: str, now: datetime) -> datetime | None:
    try:
        span = parse_duration(text)
    except ValueError:
        return None
    if span <= timedelta(0):
        raise StatsError(f"since {text!r}: the period must be longer than zero")
    return now - span


def _as_moment(text: str) -> datetime | None:
    if len(text) > 40:  # ISO 8601 is short; do not hand a novel to the parser
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text), time())
        except ValueError:
            return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

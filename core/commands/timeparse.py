"""Time phrases agents type: "in 2h", "tomorrow 15:00", "friday", ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_AMOUNT = re.compile(r"^(\d+(?:\.\d+)?)([a-z]*)$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3])(?::([0-5]\d))?(am|pm)?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# When someone says "tomorrow" or "friday" without a time, they mean the start of that day's work.
DEFAULT_HOUR = time(9, 0)


class TimePhraseError(ValueError):
    """The words are not a time we understand; the message says what we accept."""


HELP = 'write a time like "in 2h", "tomorrow 15:00", "friday", or "2026-12-01 09:00"'


def _clock(word: str) -> time | None:
    match = _CLOCK.match(word.lower())
    if not match:
        return None
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if half:
        if hour < 1 or hour > 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    elif match.group(2) is None:
        return None  # a bare number is not a clock time ("in 2" is caught elsewhere)
    return time(hour, minute)


def _iso(words: list[str], tz: ZoneInfo) -> tuple[datetime, int] | None:
    first = words[0]
    candidates = [(first, 1)]
    if len(words) > 1 and _ISO_DATE.match(first):
        candidates.insert(0, (f"{first}T{words[1]}", 2))
    for text, used in candidates:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            continue
        if _ISO_DATE.match(text):
            parsed = datetime.combine(parsed.date(), DEFAULT_HOUR)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC), used
    return None


def parse_when(words: list[str], now: datetime, tz: ZoneInfo) -> tuple[datetime, int]:
    """Parse a time phrase at the start of `words`; return (UTC time, number of words used)."""
    if not words:
        raise TimePhraseError(f"missing time: {HELP}")
    lowered = [word.lower() for word in words]
    local_now = now.astimezone(tz)
    head = lowered[0]

    if head == "in" and len(lowered) > 1:
        match = _AMOUNT.match(lowered[1])
        if match:
            amount, unit, used = float(match.group(1)), match.group(2), 2
            if not unit and len(lowered) > 2 and lowered[2] in _UNITS:
                unit, used = lowered[2], 3
            if unit in _UNITS:
                return now + timedelta(seconds=amount * _UNITS[unit]), used
        raise TimePhraseError(f'"{" ".join(words[:3])}" is not a time: {HELP}')

    iso = _iso(words, tz)
    if iso:
        return iso

    day: date | None = None
    if head == "today":
        day = local_now.date()
    elif head == "tomorrow":
        day = local_now.date() + timedelta(days=1)
    elif head in _WEEKDAYS or (head[:3] in [name[:3] for name in _WEEKDAYS] and len(head) == 3):
        index = next(i for i, name in enumerate(_WEEKDAYS) if name.startswith(head[:3]))
        ahead = (index - local_now.weekday()) % 7 or 7  # "friday" on a Friday means next week
        day = local_now.date() + timedelta(days=ahead)
    if day is not None:
        at = _clock(lowered[1]) if len(lowered) > 1 else None
        used = 2 if at else 1
        if at is None and len(lowered) > 2 and lowered[1] == "at":
            at = _clock(lowered[2])
            used = 3 if at else 1
        moment = datetime.combine(day, at or DEFAULT_HOUR, tzinfo=tz)
        return moment.astimezone(UTC), used

    at = _clock(head)
    if at:
        moment = datetime.combine(local_now.date(), at, tzinfo=tz)
        if moment <= local_now:
            moment += timedelta(days=1)
        return moment.astimezone(UTC), 1

    raise TimePhraseError(f'"{words[0]}" is not a time: {HELP}')

"""Time phrases agents type: "in 2h", "tomorrow 15:00", "next monday", "1 dec noon", ISO 8601."""

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
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december"]  # fmt: skip
_AMOUNT = re.compile(r"^(\d{1,6}(?:\.\d{1,6})?)([a-z]*)$")
# Anything shaped like a clock reading, valid or not, so "25:00" is refused rather than skipped.
_CLOCKISH = re.compile(r"^(\d{1,2})(?::(\d{1,2}))?(am|pm)?$")
_DAY_OF_MONTH = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?$")
_YEAR = re.compile(r"^\d{4}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_ISO_START = re.compile(r"^\d{4}-\d")
_NAMED_TIMES = {"noon": time(12, 0), "midday": time(12, 0)}
# "tomorrow" or "friday" without a time means the start of that day's work; "eod" its end.
DEFAULT_HOUR = time(9, 0)
DEFAULT_CLOSE = time(17, 0)

HELP = (
    'write a time like "in 2h", "tomorrow 15:00", "friday", "next monday noon", "1 dec", '
    '"eod", or "2026-12-01 09:00"'
)


class TimePhraseError(ValueError):
    """The words are not a time we understand; the message says what we accept."""


def _invalid(word: str, why: str) -> TimePhraseError:
    return TimePhraseError(f'"{word}" is not {why}: {HELP}')


def _clock(word: str, closes: time) -> time | None:
    """A time of day, None for words that are not one; raises for an impossible reading."""
    if word in _NAMED_TIMES:
        return _NAMED_TIMES[word]
    if word in ("eod", "cob", "eob"):
        return closes
    if word == "midnight":
        return time(23, 59)  # "by midnight" means the end of that day, not its start
    match = _CLOCKISH.match(word)
    if not match:
        return None
    hour, minute, suffix = int(match.group(1)), match.group(2), match.group(3)
    if minute is None and suffix is None:
        return None  # a bare number ("3 vendors") is not a clock reading
    if minute is not None and len(minute) != 2:
        raise _invalid(word, "a time of day (write minutes with two digits)")
    minutes = int(minute or 0)
    if suffix in ("am", "pm"):
        if not 1 <= hour <= 12 or minutes > 59:
            raise _invalid(word, "a time of day (am and pm hours run from 1 to 12)")
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    elif hour > 23 or minutes > 59:
        raise _invalid(word, "a time of day (hours run to 23, minutes to 59)")
    return time(hour, minutes)


def _time_at(words: list[str], start: int, closes: time) -> tuple[time, int] | None:
    """An optional "[at] <time> [am|pm]" at `start`: (time, words used)."""
    index = start + 1 if start < len(words) and words[start] == "at" else start
    if index >= len(words):
        if index > start:
            raise TimePhraseError(f'"at" needs a time after it: {HELP}')
        return None
    word = words[index]
    if index + 1 < len(words) and words[index + 1] in ("am", "pm"):  # "3 pm"
        at = _clock(word + words[index + 1], closes)
        if at is not None:
            return at, index + 2 - start
    at = _clock(word, closes)
    if at is None:
        if index > start:
            raise _invalid(word, "a time of day")
        return None
    return at, index + 1 - start


def _month(word: str) -> int | None:
    """The month number of "dec", "december" or "sept"; None for shorter or other words."""
    word = word.rstrip(".,")
    if len(word) < 3:
        return None
    for number, name in enumerate(_MONTHS, start=1):
        if name.startswith(word) or (number == 9 and word == "sept"):
            return number
    return None


def _calendar_date(words: list[str], today: date) -> tuple[date, int] | None:
    """`1 dec`, `1st december`, `dec 1`, with an optional year; the next such date."""
    if len(words) < 2:
        return None
    first, second = words[0], words[1]
    day_match, month = _DAY_OF_MONTH.match(first), _month(second)
    if not (day_match and month):
        day_match, month = _DAY_OF_MONTH.match(second.rstrip(",")), _month(first)
    if not (day_match and month):
        return None
    day, used = int(day_match.group(1)), 2
    year = today.year
    if len(words) > 2 and _YEAR.match(words[2]):
        year, used = int(words[2]), 3
    # Without a year: the next such date, looking as far as the next 29 February.
    for candidate in range(year, year + (1 if used == 3 else 5)):
        try:
            found = date(candidate, month, day)
        except ValueError:
            continue
        if used == 3 or found >= today:
            return found, used
    raise _invalid(f"{words[0]} {words[1]}", "a date")


def _weekday(word: str) -> int | None:
    if len(word) < 3:
        return None
    for index, name in enumerate(_WEEKDAYS):
        if name.startswith(word):
            return index
    return None


def _day(words: list[str], today: date) -> tuple[date, int] | None:
    """A day phrase at the start of `words`: (date, words used)."""
    head = words[0]
    if head == "today":
        return today, 1
    if head == "tomorrow":
        return today + timedelta(days=1), 1
    skip = 0
    if head in ("next", "this", "on") and len(words) > 1:
        if head == "next" and words[1] == "week":
            return today + timedelta(days=7 - today.weekday()), 2
        skip = 1
    index = _weekday(words[skip])
    if index is not None:
        # "friday" on a Friday means next week's; "next friday" is the coming one as well.
        ahead = (index - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead), skip + 1
    found = _calendar_date(words[skip:], today)
    return (found[0], skip + found[1]) if found else None


def _iso(words: list[str], tz: ZoneInfo) -> tuple[datetime, int] | None:
    """ISO 8601: "2026-12-01", "2026-12-01 09:00", "2026-12-01T09:00:00Z"."""
    first = words[0]
    if not _ISO_START.match(first):
        return None
    text, used = first, 1
    if _ISO_DATE.match(first) and len(words) > 1 and _CLOCKISH.match(words[1]):
        _clock(words[1], DEFAULT_CLOSE)  # names an impossible time ("25:00") by itself
        text, used = f"{first}T{words[1]}", 2
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _invalid(" ".join(words[:used]), "a date and time") from None
    if used == 1 and _ISO_DATE.match(first):
        parsed = datetime.combine(parsed.date(), DEFAULT_HOUR)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC), used


def _relative(words: list[str], original: list[str], now: datetime) -> tuple[datetime, int]:
    match = _AMOUNT.match(words[1]) if len(words) > 1 else None
    if match:
        amount, unit, used = float(match.group(1)), match.group(2), 2
        if not unit and len(words) > 2 and words[2] in _UNITS:
            unit, used = words[2], 3
        if unit in _UNITS:
            return now + timedelta(seconds=amount * _UNITS[unit]), used
    raise TimePhraseError(f'"{" ".join(original[:3])}" is not a time: {HELP}')


def parse_when(
    words: list[str],
    now: datetime,
    tz: ZoneInfo,
    *,
    opens: time = DEFAULT_HOUR,
    closes: time = DEFAULT_CLOSE,
) -> tuple[datetime, int]:
    """Parse a time phrase at the start of `words`; return (UTC time, number of words used).

    `opens` and `closes` are the business day's hours: "tomorrow" means tomorrow at `opens`,
    "eod" means `closes`. A word after the day that looks like a time must be a valid one."""
    if not words:
        raise TimePhraseError(f"missing time: {HELP}")
    lowered = [word.lower() for word in words[:8]]
    local_now = now.astimezone(tz)
    if lowered[0] == "in":
        return _relative(lowered, words, now)
    iso = _iso(lowered, tz)
    if iso:
        return iso

    day = _day(lowered, local_now.date())
    if day is not None:
        found, used = day
        at = _time_at(lowered, used, closes)
        if at is None:
            hour = closes if lowered[0] == "today" else opens
            return _at(found, hour, tz), used
        return _at(found, at[0], tz), used + at[1]

    at = _time_at(lowered, 0, closes)
    if at is None:
        raise TimePhraseError(f'"{words[0]}" is not a time: {HELP}')
    clock, used = at
    later = _day(lowered[used:], local_now.date()) if used < len(lowered) else None
    if later is not None:  # "noon tomorrow", "15:00 friday"
        return _at(later[0], clock, tz), used + later[1]
    moment = datetime.combine(local_now.date(), clock, tzinfo=tz)
    if moment <= local_now:
        moment += timedelta(days=1)
    return moment.astimezone(UTC), used


def _at(day: date, clock: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)

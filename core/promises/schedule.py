"""Business hours and cadence: when the next message to a customer is due."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.config import BusinessHoursConfig, RemindersConfig

_DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SEARCH_DAYS = 800  # enough to step over any run of holidays an operator can configure


class BusinessCalendar:
    """Opening hours in one timezone. With no days configured the desk is always open."""

    def __init__(self, config: BusinessHoursConfig) -> None:
        self.tz = ZoneInfo(config.timezone)
        self.days = {_DAY_NAMES.index(day) for day in config.days}
        self.open = time.fromisoformat(config.open)
        self.close = time.fromisoformat(config.close)
        self.holidays = {date.fromisoformat(day) for day in config.holidays}
        if self.days and self.close <= self.open:
            raise ValueError("business_hours.close must be later than business_hours.open")

    @property
    def always_open(self) -> bool:
        return not self.days

    def _is_workday(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def _window(self, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(day, self.open, tzinfo=self.tz).astimezone(UTC)
        end = datetime.combine(day, self.close, tzinfo=self.tz).astimezone(UTC)
        return start, end

    def is_open(self, moment: datetime) -> bool:
        if self.always_open:
            return True
        local = moment.astimezone(self.tz)
        if not self._is_workday(local.date()):
            return False
        start, end = self._window(local.date())
        return start <= moment < end

    def next_open(self, moment: datetime) -> datetime:
        """`moment` if the desk is open then, else the next opening."""
        if self.is_open(moment):
            return moment
        day = moment.astimezone(self.tz).date()
        for offset in range(_SEARCH_DAYS):
            candidate = day + timedelta(days=offset)
            if self._is_workday(candidate):
                start, _ = self._window(candidate)
                if start >= moment:
                    return start
        raise ValueError("no business day within two years: check business_hours")

    def add(self, moment: datetime, duration: timedelta) -> datetime:
        """`moment` plus `duration` of business time.

        Whole days count as business days ("1d" from Tuesday 15:00 is Wednesday 15:00, or the
        next open day); anything else counts working hours and minutes.
        """
        if self.always_open:
            return moment + duration
        if duration.total_seconds() % 86400 == 0 and duration >= timedelta(days=1):
            return self._add_days(moment, int(duration.total_seconds() // 86400))
        remaining = duration
        current = self.next_open(moment)
        for _ in range(_SEARCH_DAYS * 2):
            _, end = self._window(current.astimezone(self.tz).date())
            available = end - current
            # Strictly inside the window: a result at closing time means "first thing next
            # opening", the same business time, and a moment the desk can actually act in.
            if remaining < available:
                return current + remaining
            remaining -= available
            current = self.next_open(end)
        raise ValueError("duration too long for the business calendar")

    def _add_days(self, moment: datetime, days: int) -> datetime:
        start = self.next_open(moment)
        local = start.astimezone(self.tz)
        day, clock = local.date(), local.timetz().replace(tzinfo=None)
        for _ in range(days):
            day += timedelta(days=1)
            while not self._is_workday(day):
                day += timedelta(days=1)
        result = datetime.combine(day, clock, tzinfo=self.tz).astimezone(UTC)
        return self.next_open(result)

    def business_seconds_between(self, start: datetime, end: datetime) -> float:
        """Open time between two moments, in seconds (for checking cadences were kept)."""
        if end <= start:
            return 0.0
        if self.always_open:
            return (end - start).total_seconds()
        total = timedelta(0)  # summed exactly; seconds as a float only at the end
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while day <= last:
            if self._is_workday(day):
                opening, closing = self._window(day)
                low, high = max(opening, start), min(closing, end)
                if high > low:
                    total += high - low
            day += timedelta(days=1)
        return total.total_seconds()


def cadence(reminders: RemindersConfig, priority: str, status: str) -> timedelta:
    """How long a customer may wait for the next message, by status and priority."""
    if status == "waiting":
        return reminders.waiting_cadence
    by_priority: timedelta = getattr(reminders.cadence, priority, reminders.cadence.normal)
    return by_priority


def next_update_due(
    reminders: RemindersConfig,
    calendar: BusinessCalendar,
    priority: str,
    status: str,
    now: datetime,
) -> datetime:
    return calendar.add(now, cadence(reminders, priority, status))

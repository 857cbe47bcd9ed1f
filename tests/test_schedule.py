"""Business time: opening hours, holidays, whole business days, and the cadence table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import BusinessHoursConfig, RemindersConfig
from core.promises.schedule import BusinessCalendar, cadence, next_update_due

OFFICE = BusinessHoursConfig(
    timezone="Europe/Berlin",
    days=["mon", "tue", "wed", "thu", "fri"],
    open="09:00",
    close="17:00",
    holidays=["2026-12-25", "2026-12-28"],
)


def berlin(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """Berlin wall-clock in winter (UTC+1), as UTC."""
    return datetime(2026, month, day, hour - 1, minute, tzinfo=UTC)


def test_with_no_days_configured_the_desk_is_always_open() -> None:
    calendar = BusinessCalendar(BusinessHoursConfig())
    moment = datetime(2026, 11, 28, 3, tzinfo=UTC)  # a Saturday night
    assert calendar.is_open(moment) and calendar.next_open(moment) == moment
    assert calendar.add(moment, timedelta(hours=5)) == moment + timedelta(hours=5)
    assert calendar.business_seconds_between(moment, moment + timedelta(hours=2)) == 7200


def test_opening_hours_and_the_next_opening() -> None:
    calendar = BusinessCalendar(OFFICE)
    assert calendar.is_open(berlin(11, 27, 9))
    assert not calendar.is_open(berlin(11, 27, 17)), "closing time is closed"
    assert calendar.next_open(berlin(11, 27, 18)) == berlin(11, 30, 9), "Friday evening: Monday"
    # Christmas Friday and the Monday after are holidays.
    assert calendar.next_open(berlin(12, 24, 17, 30)) == berlin(12, 29, 9)


def test_hours_count_only_while_open() -> None:
    calendar = BusinessCalendar(OFFICE)
    assert calendar.add(berlin(11, 27, 15), timedelta(hours=4)) == berlin(11, 30, 11)
    assert calendar.add(berlin(11, 28, 12), timedelta(hours=1)) == berlin(11, 30, 10)


def test_a_result_at_closing_time_becomes_the_next_opening() -> None:
    calendar = BusinessCalendar(OFFICE)
    # 13:00 + 4h would be 17:00, when nobody can act; the same business time is 09:00 next day.
    assert calendar.add(berlin(11, 26, 13), timedelta(hours=4)) == berlin(11, 27, 9)


def test_whole_days_are_business_days_at_the_same_clock_time() -> None:
    calendar = BusinessCalendar(OFFICE)
    assert calendar.add(berlin(11, 24, 15), timedelta(days=1)) == berlin(11, 25, 15)
    assert calendar.add(berlin(11, 27, 15), timedelta(days=1)) == berlin(11, 30, 15)
    assert calendar.add(berlin(12, 24, 10), timedelta(days=1)) == berlin(12, 29, 10)
    assert calendar.add(berlin(11, 27, 20), timedelta(days=1)) == berlin(12, 1, 9), (
        "from after hours, the day counts from the next opening"
    )


def test_whole_days_keep_the_local_clock_across_a_dst_change() -> None:
    calendar = BusinessCalendar(OFFICE)
    friday = datetime(2026, 3, 27, 9, tzinfo=UTC)  # 10:00 CET
    monday = datetime(2026, 3, 30, 8, tzinfo=UTC)  # 10:00 CEST
    assert calendar.add(friday, timedelta(days=1)) == monday


def test_business_seconds_between_skips_nights_weekends_and_holidays() -> None:
    calendar = BusinessCalendar(OFFICE)
    assert calendar.business_seconds_between(berlin(11, 27, 16), berlin(11, 30, 10)) == 2 * 3600
    assert calendar.business_seconds_between(berlin(12, 24, 16), berlin(12, 29, 9)) == 3600
    assert calendar.business_seconds_between(berlin(11, 30, 10), berlin(11, 27, 16)) == 0


def test_closing_before_opening_is_refused() -> None:
    with pytest.raises(ValueError, match="close must be later than"):
        BusinessCalendar(OFFICE.model_copy(update={"open": "18:00"}))


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=1, max_value=60 * 60),
)
def test_adding_business_time_lands_open_and_adds_exactly_that_much(
    start: datetime, minutes: int
) -> None:
    calendar = BusinessCalendar(OFFICE)
    duration = timedelta(minutes=minutes)
    if duration % timedelta(days=1) == timedelta(0):
        return  # whole days have their own rule, tested above
    end = calendar.add(start, duration)
    assert calendar.is_open(end)
    assert calendar.business_seconds_between(start, end) == duration.total_seconds()


def test_cadence_by_priority_and_waiting() -> None:
    reminders = RemindersConfig()
    assert cadence(reminders, "urgent", "open") == timedelta(hours=1)
    assert cadence(reminders, "high", "new") == timedelta(hours=4)
    assert cadence(reminders, "low", "open") == timedelta(days=3)
    assert cadence(reminders, "urgent", "waiting") == reminders.waiting_cadence
    calendar = BusinessCalendar(OFFICE)
    due = next_update_due(reminders, calendar, "normal", "open", berlin(11, 27, 16))
    assert due == berlin(11, 30, 16)

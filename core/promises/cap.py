"""The daily cap on automatic messages: what each person had in the last day, when it frees."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Connection

from core.channel import Audience
from core.people import people_of
from core.promises.schedule import BusinessCalendar
from core.storage.models import OutboxRow, OutboxStatus

DAY = timedelta(days=1)


@dataclass
class DaySent:
    """Per person (core/people.py): the automatic customer messages of the last day, newest
    first. The cap counts a person's messages on all their contacts together, and
    acknowledgements among them."""

    sent: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    # contact -> person, for the contacts read and every other contact of the same people.
    people: dict[int, int] = field(default_factory=dict)

    def person(self, contact_id: int) -> int:
        return self.people.get(contact_id, contact_id)


def read_day(connection: Connection, contacts: Iterable[int], now: datetime) -> DaySent:
    """Two indexed reads: who is whom, then each person's automatic messages of the day."""
    day = DaySent(people=people_of(connection, contacts))
    if not day.people:
        return day
    rows = connection.execute(
        select(OutboxRow.contact_id, OutboxRow.created_at)
        .where(
            OutboxRow.contact_id.in_(sorted(day.people)),
            OutboxRow.automatic.is_(True),
            OutboxRow.created_at > now - DAY,
            OutboxRow.audience == Audience.CUSTOMER.value,
            OutboxRow.status != OutboxStatus.CANCELLED,
        )
        .order_by(OutboxRow.created_at.desc())
    )
    for contact_id, created_at in rows:
        if contact_id is not None:  # always set: the query asks for these contacts
            day.sent[day.person(contact_id)].append(created_at)
    return day


def frees_at(recent: list[datetime], cap: int, calendar: BusinessCalendar) -> datetime | None:
    """None while `recent` (newest first) leaves room for one more automatic message, else when
    there is room again: when the oldest of the last `cap` leaves the rolling day."""
    if len(recent) < cap:
        return None
    return calendar.next_open(recent[cap - 1] + DAY)

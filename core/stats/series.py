"""The statistics page's chart data: per-day series and distributions, by aggregate queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.stats.figures import CSAT
from core.stats.sql import count_if, dialect_of, score_of, seconds_between, utc_day, within
from core.stats.window import Window
from core.storage.models import Promise, Ticket, TicketEvent

# Duration buckets for the response and resolution charts: label → upper bound in seconds.
DURATION_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("under 15 min", 15 * 60),
    ("15 min – 1 h", 3600),
    ("1 – 4 h", 4 * 3600),
    ("4 – 24 h", 86400),
    ("1 – 3 days", 3 * 86400),
    ("3 – 7 days", 7 * 86400),
    ("over a week", None),
)


async def compute_series(session: AsyncSession, window: Window) -> dict[str, Any]:
    """What the page draws: each list lines up with `days` or with the bucket labels."""
    dialect = dialect_of(session)
    days = [day.isoformat() for day in window.days]
    return {
        "days": days,
        "opened_by_channel": await _opened_by_day(session, window, dialect, days),
        "promises_by_day": await _promises_by_day(session, window, dialect, days),
        "first_response": await _distribution(
            session,
            seconds_between(dialect, Ticket.first_response_at, Ticket.created_at),
            within(Ticket.created_at, window.since, window.until),
        ),
        "resolution": await _distribution(
            session,
            seconds_between(dialect, Ticket.resolved_at, Ticket.created_at),
            within(Ticket.resolved_at, window.since, window.until),
        ),
        "csat_scores": await _csat_scores(session, window),
    }


async def _opened_by_day(
    session: AsyncSession, window: Window, dialect: str, days: list[str]
) -> dict[str, list[int]]:
    day = utc_day(dialect, Ticket.created_at)
    query = (
        select(day.label("day"), Ticket.reply_channel, func.count().label("n"))
        .where(within(Ticket.created_at, window.since, window.until))
        .group_by(day, Ticket.reply_channel)
    )
    series: dict[str, list[int]] = {}
    for row in (await session.execute(query)).all():
        counts = series.setdefault(row.reply_channel, [0] * len(days))
        if row.day in days:
            counts[days.index(row.day)] = int(row.n)
    return dict(sorted(series.items()))


async def _promises_by_day(
    session: AsyncSession, window: Window, dialect: str, days: list[str]
) -> dict[str, list[int]]:
    """Promises of an update settled each day: kept and broken."""
    day = utc_day(dialect, Promise.settled_at)
    query = (
        select(
            day.label("day"),
            count_if(Promise.kept.is_(True)).label("kept"),
            count_if(Promise.kept.is_(False)).label("broken"),
        )
        .where(
            Promise.kind == "next_update", within(Promise.settled_at, window.since, window.until)
        )
        .group_by(day)
    )
    kept, broken = [0] * len(days), [0] * len(days)
    for row in (await session.execute(query)).all():
        if row.day in days:
            kept[days.index(row.day)] = int(row.kept)
            broken[days.index(row.day)] = int(row.broken)
    return {"kept": kept, "broken": broken}


async def _distribution(
    session: AsyncSession, seconds: Any, condition: Any
) -> dict[str, list[Any]]:
    """How many durations fall in each bucket: one CASE, grouped."""
    whens = [
        (seconds < bound, literal(index))
        for index, (_, bound) in enumerate(DURATION_BUCKETS)
        if bound is not None
    ]
    bucket = case(*whens, else_=literal(len(DURATION_BUCKETS) - 1))
    query = (
        select(bucket.label("bucket"), func.count().label("n"))
        .where(and_(condition, seconds.is_not(None)))
        .group_by(bucket)
    )
    counts = [0] * len(DURATION_BUCKETS)
    for row in (await session.execute(query)).all():
        counts[int(row.bucket)] = int(row.n)
    return {"labels": [label for label, _ in DURATION_BUCKETS], "counts": counts}


async def _csat_scores(session: AsyncSession, window: Window) -> dict[str, list[Any]]:
    score = score_of(TicketEvent.text)
    query = (
        select(score.label("score"), func.count().label("n"))
        .where(TicketEvent.kind == CSAT, within(TicketEvent.at, window.since, window.until))
        .group_by(score)
    )
    counts = [0] * 5
    for row in (await session.execute(query)).all():
        if row.score is not None:
            counts[int(row.score) - 1] = int(row.n)
    return {"labels": ["1", "2", "3", "4", "5"], "counts": counts}

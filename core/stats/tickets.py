"""The window's tickets read once: counts by channel and both durations' percentiles.

One statement: the tickets opened or resolved in the window are materialised once (a CTE), and
the counts and the two ranked duration lists are taken from that, so the tickets table is
scanned once rather than three times.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    CTE,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from core.stats.sql import PERCENTILES, dialect_of, interpolate, seconds_between, within
from core.stats.window import Window
from core.storage.models import Ticket


def _window_tickets(dialect: str, window: Window) -> CTE:
    since, until = window.since, window.until
    created_in = within(Ticket.created_at, since, until)
    resolved_in = within(Ticket.resolved_at, since, until)
    first = seconds_between(dialect, Ticket.first_response_at, Ticket.created_at)
    resolution = seconds_between(dialect, Ticket.resolved_at, Ticket.created_at)
    query = select(
        Ticket.reply_channel.label("channel"),
        case((created_in, 1), else_=0).label("opened"),
        case((resolved_in, 1), else_=0).label("resolved"),
        case((and_(created_in, Ticket.first_response_at.is_not(None)), first)).label("first"),
        case((resolved_in, resolution)).label("resolution"),
    ).where(or_(Ticket.created_at >= since, Ticket.resolved_at >= since))
    return query.cte("window_tickets").prefix_with("MATERIALIZED")


def _ranks(tickets: CTE, part: str) -> Select[Any]:
    """The rows around each percentile's rank of one duration column."""
    column = tickets.c[part]
    # The count as a subquery rather than COUNT(*) OVER (): a window over the whole partition
    # makes SQLite buffer every row before the first comes out.
    total = select(func.count(column)).scalar_subquery()
    ranked = (
        select(
            column.label("value"),
            (func.row_number().over(order_by=column) - 1).label("rank"),
            total.label("n"),
        )
        .where(column.is_not(None))
        .subquery()
    )
    wanted = []
    for share in PERCENTILES.values():
        low = (ranked.c.n - 1) * share.numerator // share.denominator
        wanted.append(or_(ranked.c.rank == low, ranked.c.rank == low + 1))
    return select(
        literal(part).label("part"),
        cast(null(), String).label("channel"),
        cast(ranked.c.rank, Integer).label("a"),
        cast(ranked.c.value, Float).label("value"),
        cast(ranked.c.n, Integer).label("b"),
    ).where(or_(*wanted))


async def window_tickets(session: AsyncSession, window: Window) -> dict[str, Any]:
    """{"by_channel": {channel: {opened, resolved}}, "first": {median, p90}, "resolution": …}"""
    tickets = _window_tickets(dialect_of(session), window)
    counts = select(
        literal("count").label("part"),
        tickets.c.channel,
        cast(func.sum(tickets.c.opened), Integer).label("a"),
        cast(null(), Float).label("value"),
        cast(func.sum(tickets.c.resolved), Integer).label("b"),
    ).group_by(tickets.c.channel)
    rows = (
        await session.execute(
            union_all(counts, _ranks(tickets, "first"), _ranks(tickets, "resolution"))
        )
    ).all()
    by_channel = {
        row.channel: {"opened": int(row.a), "resolved": int(row.b)}
        for row in rows
        if row.part == "count" and (row.a or row.b)
    }
    found: dict[str, Any] = {"by_channel": dict(sorted(by_channel.items()))}
    for part in ("first", "resolution"):
        ranked = [
            {"rank": row.a, "value": row.value, "n": row.b} for row in rows if row.part == part
        ]
        found[part] = interpolate(ranked)
    return found

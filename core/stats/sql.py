"""Expressions that differ between SQLite and PostgreSQL: seconds between times, the UTC day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, cast, func
from sqlalchemy.ext.asyncio import AsyncSession

# The percentiles every figure reports: the median and the 90th.
PERCENTILES = {"median": Fraction(1, 2), "p90": Fraction(9, 10)}


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def seconds_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    if dialect == "sqlite":
        # Times are stored as ISO text there; julianday reads it, fractional seconds included.
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def utc_day(dialect: str, column: Any) -> ColumnElement[str]:
    """The column's UTC date as "YYYY-MM-DD"."""
    if dialect == "sqlite":
        return func.substr(column, 1, 10)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def within(column: Any, since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(column >= since, column <= until)


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """SUM(CASE WHEN condition THEN 1 ELSE 0 END): a count per group in the same scan."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def score_of(text: Any) -> ColumnElement[int]:
    """A CSAT answer's score: its first character when that is a digit 1–5, else NULL."""
    first = func.substr(text, 1, 1)
    return case((first.in_(["1", "2", "3", "4", "5"]), cast(first, Integer)), else_=None)


def interpolate(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Median and p90 from the rows at and after each percentile's rank (percentile_cont)."""
    if not rows:
        return dict.fromkeys(PERCENTILES)
    n = int(rows[0]["n"])
    values = {int(row["rank"]): float(row["value"]) for row in rows}
    found: dict[str, float | None] = {}
    for name, share in PERCENTILES.items():
        position = (n - 1) * share
        low = int(position)  # floor: position is never negative
        below = values[low]
        above = values.get(low + 1, below)
        found[name] = round(below + float(position - low) * (above - below), 3)
    return found

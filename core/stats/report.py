"""Entry points: the figures for a period, and the `stats` verb's reply with its signed link."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.stats.figures import compute_figures, summary_lines
from core.stats.link import LinkError, stats_link
from core.stats.series import compute_series
from core.stats.window import parse_window
from core.storage.db import Database


async def stats_figures(db: Database, now: datetime, since: str | None = None) -> dict[str, Any]:
    """`tidings stats --json`. Raises StatsError for a `since` it cannot read."""
    window = parse_window(since, now)
    async with db.sessions() as session:
        return await compute_figures(session, window)


async def stats_page_data(db: Database, now: datetime, since: str | None = None) -> dict[str, Any]:
    """The figures and the chart series, read in one snapshot."""
    window = parse_window(since, now)
    async with db.sessions() as session:
        figures = await compute_figures(session, window)
        series = await compute_series(session, window)
    return {"figures": figures, "series": series}


async def stats_reply(
    db: Database, settings: Settings, now: datetime, since: str | None = None
) -> str:
    """What the `stats [since]` verb answers: the headline figures and a link valid an hour."""
    async with db.sessions() as session:
        return await stats_text(session, settings, now, since)


async def stats_text(
    session: AsyncSession, settings: Settings, now: datetime, since: str | None = None
) -> str:
    """stats_reply inside a session the caller holds (the command runner's). Raises
    StatsError, a ValueError naming the bad `since`, before reading anything."""
    figures = await compute_figures(session, parse_window(since, now))
    lines = summary_lines(figures)
    try:
        lines.append(f"Charts (link valid 1 hour): {stats_link(settings, now, since or '')}")
    except LinkError as exc:
        lines.append(f"No chart link: {exc}.")
    return "\n".join(lines)

"""The headline figures of a period, each from one aggregate query (no tickets loaded).

Assumptions about kinds other parts add: a satisfaction question is an event of kind
`csat_asked`, the answer one of kind `csat` whose text starts with the score 1–5; a call solved
on the spot is marked by an event of kind `logged`. Until those exist the figures are 0 / null.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.stats.sql import count_if, score_of, within
from core.stats.tickets import window_tickets
from core.stats.window import Window
from core.storage.models import ACTIVE_STATUSES, EventKind, Promise, Ticket, TicketEvent
from core.tickets.queries import iso

CSAT_ASKED = "csat_asked"
CSAT = "csat"
LOGGED = "logged"
EVENT_KINDS = (EventKind.APOLOGY.value, CSAT_ASKED, CSAT, LOGGED)
_ACTIVE = [status.value for status in ACTIVE_STATUSES]

# Backlog age buckets: name → (younger than, or None for "and older"). Ordered youngest first.
BACKLOG_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("under_1d", timedelta(days=1)),
    ("1d_to_3d", timedelta(days=3)),
    ("3d_to_7d", timedelta(days=7)),
    ("7d_to_30d", timedelta(days=30)),
    ("over_30d", None),
)


async def compute_figures(session: AsyncSession, window: Window) -> dict[str, Any]:
    """Every figure of `tidings stats --json` for the window, in that document's shape."""
    since, until = window.since, window.until
    promises, etas = await _promises(session, window)
    events = await _events(session, window)
    tickets, backlog = await _tickets(session, window)
    return {
        "since": iso(since),
        "until": iso(until),
        "tickets": tickets,
        "first_response_seconds": tickets.pop("first"),
        "resolution_seconds": tickets.pop("resolution"),
        "promises": promises,
        "etas": {**etas, "apologised": events["apologised"]},
        "csat": events["csat"],
        "logged_on_the_spot": events["logged"],
        "backlog_by_age": backlog,
    }


async def _tickets(session: AsyncSession, window: Window) -> tuple[dict[str, Any], dict[str, int]]:
    """Opened and resolved by channel and the durations; open now and the backlog's ages."""
    found = await window_tickets(session, window)
    by_channel = found["by_channel"]
    backlog = await _backlog(session, window.until)
    tickets = {
        "opened": sum(counts["opened"] for counts in by_channel.values()),
        "resolved": sum(counts["resolved"] for counts in by_channel.values()),
        "open_now": sum(backlog.values()),
        "by_channel": by_channel,
        "first": found["first"],
        "resolution": found["resolution"],
    }
    return tickets, backlog


async def _backlog(session: AsyncSession, until: datetime) -> dict[str, int]:
    """Active tickets by age: read through the status index, not the whole history."""
    columns = []
    younger_than = until
    for name, age in BACKLOG_BUCKETS:
        older = Ticket.created_at <= younger_than
        if age is not None:
            older = and_(older, Ticket.created_at > until - age)
            younger_than = until - age
        columns.append(count_if(older).label(name))
    row = (await session.execute(select(*columns).where(Ticket.status.in_(_ACTIVE)))).one()
    return {name: int(getattr(row, name)) for name, _ in BACKLOG_BUCKETS}


async def _promises(session: AsyncSession, window: Window) -> tuple[dict[str, Any], dict[str, int]]:
    """Next-update promises made, kept, broken; ETAs set, met, missed. A promise replaced
    before it fell due (kept is NULL) counts as made but neither kept nor broken."""
    since, until = window.since, window.until
    settled = within(Promise.settled_at, since, until)
    query = (
        select(
            Promise.kind,
            count_if(within(Promise.made_at, since, until)).label("made"),
            count_if(and_(settled, Promise.kept.is_(True))).label("kept"),
            count_if(and_(settled, Promise.kept.is_(False))).label("broken"),
        )
        .where(or_(Promise.made_at >= since, Promise.settled_at >= since))
        .group_by(Promise.kind)
    )
    found = {row.kind: row for row in (await session.execute(query)).all()}
    update, eta = found.get("next_update"), found.get("eta")
    kept = int(update.kept) if update else 0
    broken = int(update.broken) if update else 0
    promises = {
        "made": int(update.made) if update else 0,
        "kept": kept,
        "broken": broken,
        "kept_pct": round(100 * kept / (kept + broken), 1) if kept + broken else None,
    }
    etas = {
        "set": int(eta.made) if eta else 0,
        "met": int(eta.kept) if eta else 0,
        "missed": int(eta.broken) if eta else 0,
    }
    return promises, etas


async def _events(session: AsyncSession, window: Window) -> dict[str, Any]:
    """Apologies, satisfaction questions and answers, calls logged: one pass over the window's
    events of those kinds."""
    score = score_of(TicketEvent.text)
    query = (
        select(
            TicketEvent.kind,
            func.count().label("n"),
            func.count(score).label("scored"),
            func.avg(score).label("average"),
        )
        .where(
            TicketEvent.kind.in_(EVENT_KINDS), within(TicketEvent.at, window.since, window.until)
        )
        .group_by(TicketEvent.kind)
    )
    found = {row.kind: row for row in (await session.execute(query)).all()}

    def count(kind: str) -> int:
        return int(found[kind].n) if kind in found else 0

    answers = found.get(CSAT)
    average = answers.average if answers is not None else None
    return {
        "apologised": count(EventKind.APOLOGY),
        "logged": count(LOGGED),
        "csat": {
            "asked": count(CSAT_ASKED),
            "answered": int(answers.scored) if answers is not None else 0,
            "average": round(float(average), 2) if average is not None else None,
        },
    }


def summary_lines(figures: dict[str, Any]) -> list[str]:
    """The figures in a few plain sentences, for the CLI and the `stats` verb."""
    tickets, promises, etas = figures["tickets"], figures["promises"], figures["etas"]
    first, resolution, csat = (
        figures["first_response_seconds"],
        figures["resolution_seconds"],
        figures["csat"],
    )
    channels = ", ".join(
        f"{name} {counts['opened']}" for name, counts in tickets["by_channel"].items()
    )
    lines = [
        f"Since {figures['since'][:16].replace('T', ' ')} UTC:",
        f"tickets opened {tickets['opened']}"
        + (f" ({channels})" if channels else "")
        + f", resolved {tickets['resolved']}, open now {tickets['open_now']}",
        "first response " + _spread(first),
        "resolution " + _spread(resolution),
        f"updates promised {promises['made']}: kept {promises['kept']}, broken "
        f"{promises['broken']} ({_pct(promises['kept_pct'])} kept)",
        f"ETAs set {etas['set']}: met {etas['met']}, missed {etas['missed']}, "
        f"apologies {etas['apologised']}",
        f"satisfaction: asked {csat['asked']}, answered {csat['answered']}, average "
        + (f"{csat['average']}/5" if csat["average"] is not None else "n/a"),
        f"calls logged on the spot {figures['logged_on_the_spot']}",
    ]
    return lines


def human_duration(seconds: float | None) -> str:
    """Seconds in the unit a person would say: "40 seconds", "12 minutes", "3.5 hours"."""
    if seconds is None:
        return "n/a"
    unit, amount = "day", seconds / 86400
    for name, size, limit in (("second", 1, 90), ("minute", 60, 5400), ("hour", 3600, 129600)):
        if seconds < limit:
            unit, amount = name, seconds / size
            break
    shown = f"{amount:.0f}" if unit in ("second", "minute") or amount >= 10 else f"{amount:.1f}"
    return f"{shown} {unit}{'' if shown == '1' else 's'}"


def _spread(figure: dict[str, float | None]) -> str:
    return f"median {human_duration(figure['median'])}, p90 {human_duration(figure['p90'])}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}%"

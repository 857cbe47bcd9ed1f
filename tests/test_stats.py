"""Statistics figures on a seeded desk, checked against the same facts counted in Python."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.stats.report import stats_figures, stats_reply
from core.stats.window import StatsError, parse_window
from core.storage.db import Database
from core.storage.models import Status
from tests.conftest import make_settings
from tests.stats_seed import Seeded, plan_desk, write_desk

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ACTIVE = {Status.NEW, Status.OPEN, Status.WAITING}


def spread(values: list[float]) -> dict[str, float | None]:
    """Median and p90, interpolated between closest ranks (the 'inclusive' method)."""
    if not values:
        return {"median": None, "p90": None}
    if len(values) == 1:
        return {"median": values[0], "p90": values[0]}
    return {
        "median": statistics.median(values),
        "p90": statistics.quantiles(values, n=10, method="inclusive")[8],
    }


def expected(seeded: Seeded, since: datetime, until: datetime) -> dict[str, Any]:
    def inside(moment: datetime | None) -> bool:
        return moment is not None and since <= moment <= until

    tickets = seeded.tickets
    by_channel: dict[str, dict[str, int]] = {}
    for t in tickets:
        counts = by_channel.setdefault(t.reply_channel, {"opened": 0, "resolved": 0})
        counts["opened"] += inside(t.created_at)
        counts["resolved"] += inside(t.resolved_at)
    first = [
        (t.first_response_at - t.created_at).total_seconds()
        for t in tickets
        if inside(t.created_at) and t.first_response_at is not None
    ]
    resolution = [
        (t.resolved_at - t.created_at).total_seconds()
        for t in tickets
        if t.resolved_at is not None and inside(t.resolved_at)
    ]
    updates = [p for p in seeded.promises if p.kind == "next_update"]
    etas = [p for p in seeded.promises if p.kind == "eta"]
    kept = sum(1 for p in updates if inside(p.settled_at) and p.kept is True)
    broken = sum(1 for p in updates if inside(p.settled_at) and p.kept is False)
    events = [e for e in seeded.events if inside(e.at)]
    scores = [int(e.text[0]) for e in events if e.kind == "csat" and e.text[0] in "12345"]
    ages = [until - t.created_at for t in tickets if t.status in ACTIVE]
    day = timedelta(days=1)
    return {
        "tickets": {
            "opened": sum(inside(t.created_at) for t in tickets),
            "resolved": sum(inside(t.resolved_at) for t in tickets),
            "open_now": sum(t.status in ACTIVE for t in tickets),
            "by_channel": dict(sorted(by_channel.items())),
        },
        "first_response_seconds": spread(first),
        "resolution_seconds": spread(resolution),
        "promises": {
            "made": sum(inside(p.made_at) for p in updates),
            "kept": kept,
            "broken": broken,
            "kept_pct": round(100 * kept / (kept + broken), 1) if kept + broken else None,
        },
        "etas": {
            "set": sum(inside(p.made_at) for p in etas),
            "met": sum(1 for p in etas if inside(p.settled_at) and p.kept is True),
            "missed": sum(1 for p in etas if inside(p.settled_at) and p.kept is False),
            "apologised": sum(e.kind == "apology" for e in events),
        },
        "csat": {
            "asked": sum(e.kind == "csat_asked" for e in events),
            "answered": len(scores),
            "average": round(statistics.mean(scores), 2) if scores else None,
        },
        "logged_on_the_spot": sum(e.kind == "logged" for e in events),
        "backlog_by_age": {
            "under_1d": sum(a < day for a in ages),
            "1d_to_3d": sum(day <= a < 3 * day for a in ages),
            "3d_to_7d": sum(3 * day <= a < 7 * day for a in ages),
            "7d_to_30d": sum(7 * day <= a < 30 * day for a in ages),
            "over_30d": sum(a >= 30 * day for a in ages),
        },
    }


def approx_figures(found: dict[str, Any], wanted: dict[str, Any]) -> None:
    for key in ("first_response_seconds", "resolution_seconds"):
        for name, value in wanted[key].items():
            assert found[key][name] == pytest.approx(value, abs=0.01), (key, name)
    exact = {k: v for k, v in wanted.items() if not k.endswith("_seconds")}
    assert {k: found[k] for k in exact} == exact


@pytest.fixture
async def seeded_db(database_url: str) -> Any:
    db = Database(database_url)
    await db.upgrade()
    seeded = plan_desk(NOW)
    await write_desk(db, seeded)
    try:
        yield db, seeded
    finally:
        await db.dispose()


@pytest.mark.parametrize("since", ["30d", "7d", "2026-11-20", "40d"])
async def test_the_figures_add_up_on_a_seeded_desk(seeded_db: Any, since: str) -> None:
    db, seeded = seeded_db
    found = await stats_figures(db, NOW, since)
    window = parse_window(since, NOW)
    assert found["since"] == window.since.isoformat().replace("+00:00", "Z")
    assert found["until"] == "2026-11-29T12:00:00Z"
    wanted = expected(seeded, window.since, window.until)
    approx_figures(found, wanted)
    # The seed is rich enough that every figure has data (none of the checks above is vacuous).
    assert found["tickets"]["opened"] > 5 and found["promises"]["broken"] > 0
    assert found["csat"]["answered"] > 0 and found["etas"]["apologised"] > 0
    assert found["first_response_seconds"]["p90"] > found["first_response_seconds"]["median"]


async def test_an_empty_desk_has_zeros_and_nulls_not_errors(database_url: str) -> None:
    db = Database(database_url)
    await db.upgrade()
    try:
        found = await stats_figures(db, NOW)
    finally:
        await db.dispose()
    assert found["tickets"] == {"opened": 0, "resolved": 0, "open_now": 0, "by_channel": {}}
    assert found["first_response_seconds"] == {"median": None, "p90": None}
    assert found["promises"]["kept_pct"] is None
    assert found["csat"] == {"asked": 0, "answered": 0, "average": None}
    assert found["logged_on_the_spot"] == 0
    assert set(found["backlog_by_age"].values()) == {0}


@pytest.mark.parametrize(
    ("since", "complaint"),
    [
        ("banana", "'banana': write a duration back from now"),
        ("0d", "longer than zero"),
        ("2027-01-01", "not in the past"),
        ("20000d", "at most 3660 days"),
        ("x" * 5000, "write a duration"),
    ],
)
def test_a_since_it_cannot_read_is_a_specific_error(since: str, complaint: str) -> None:
    with pytest.raises(StatsError, match=complaint[:40].replace("(", r"\(")):
        parse_window(since, NOW)


async def test_the_stats_verb_reply_has_the_figures_and_a_signed_link(
    seeded_db: Any, tmp_path: Path, database_url: str
) -> None:
    db, _ = seeded_db
    settings = make_settings(database_url, tmp_path, web={"secret": "s3cret", "port": 8080,
                             "public_url": "https://desk.example.com/"})  # fmt: skip
    reply = await stats_reply(db, settings, NOW, "7d")
    assert reply.startswith("Since 2026-11-22 12:00 UTC:")
    assert "tickets opened" in reply and "kept)" in reply
    assert "Charts (link valid 1 hour): https://desk.example.com/stats?expires=" in reply
    bare = make_settings(database_url, tmp_path)
    assert "No chart link: stats links need [web] secret or [web] admin_token" in (
        await stats_reply(db, bare, NOW)
    )


async def test_a_day_on_the_desk_gives_the_figures_worked_out_by_hand(
    desk_app: Any, clock: Any
) -> None:
    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 11, day, hour, minute, tzinfo=UTC)

    for number, user in enumerate(["ann", "ben", "cat"]):
        await desk_app.fake.say(user, f"Problem of {user}", message_id=f"m{number}")
    await desk_app.drain()  # Monday 09:00: three tickets, three acknowledgements
    for moment, words in [
        (at(23, 9, 30), "reply T-1 Looking now."),  # first response after 30 min
        (at(23, 11), "reply T-2 On it."),  # after 2 h
        (at(23, 12), "resolve T-1 Fixed."),  # solved after 3 h
        (at(23, 13), "eta T-2 2026-11-23 15:00"),  # an ETA that will be missed
    ]:
        clock.set(moment)
        assert (await desk_app.desk.run_as("alice", words)).ok
    await desk_app.drain()
    clock.set(at(24, 9))  # T-3's promised update falls due; T-2's ETA has passed
    await desk_app.drain()

    found = await stats_figures(desk_app.db, clock.now(), "7d")
    assert found["tickets"] == {"opened": 3, "resolved": 1, "open_now": 2,
                                "by_channel": {"fake": {"opened": 3, "resolved": 1}}}  # fmt: skip
    # Two first responses, 1800 s and 7200 s: median 4500, p90 1800 + 0.9 × 5400.
    assert found["first_response_seconds"] == {"median": 4500.0, "p90": 6660.0}
    assert found["resolution_seconds"] == {"median": 10800.0, "p90": 10800.0}
    # Update promises: one per acknowledgement (3), per reply (2), the ETA message, the
    # apology and T-3's automatic update: 8 made. Settled: both of T-1's, three of T-2's
    # and T-3's first, all on time; the open ones are neither kept nor broken yet.
    assert found["promises"] == {"made": 8, "kept": 6, "broken": 0, "kept_pct": 100.0}
    assert found["etas"] == {"set": 1, "met": 0, "missed": 1, "apologised": 1}
    assert found["backlog_by_age"]["1d_to_3d"] == 2, "opened exactly a day ago"

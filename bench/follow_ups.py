"""Follow-up benchmark: what telling the agents costs when a burst of customer replies arrives.

Run by hand: `.venv/bin/python -m bench.follow_ups [--tickets N]`. One app on SQLite with a
fake channel opens 4N tickets; then four sets of N follow-ups are processed, each in the same
run: with no triage channel (nothing for agents), with two triage channels but the notice
switched off (each follow-up updates the two cards: what Tidings did before notices), with
the notices (each follow-up also queues a notice for the card's thread in both), and with the
notices queued the way `alert_agents` did before it flushed once per call (a flush for each
target's row). Printed: inbox rows processed per second each way, and the outbox rows queued.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from core.channel import ReplyTarget
from core.clock import FakeClock
from core.config import load_settings
from core.context import Context
from core.delivery.enqueue import alert_agents, enqueue
from core.intake import apply, follow_ups
from core.intake.follow_ups import tell_agents
from core.storage.models import OutboxRow, Ticket
from tests.fake_channel import FakeChannel

TRIAGE = [ReplyTarget("slack", "C0TRIAGE", ""), ReplyTarget("discord", "4242", "")]
# (label, triage targets, notices on, a flush per target): all but the third are baselines
# measured in the same run.
SETS: tuple[tuple[str, list[ReplyTarget], bool, bool], ...] = (
    ("no triage channel", [], False, False),
    ("two triage channels, cards only", TRIAGE, False, False),
    ("two triage channels, with notices", TRIAGE, True, False),
    ("  the same, a flush per target", TRIAGE, True, True),
)


async def _silent(*_: object, **__: object) -> None:
    """The notice switched off, for the baseline."""


async def _flush_per_target(ctx: Context, session: AsyncSession, ticket: Ticket, kind: str,
                            text: str) -> None:  # fmt: skip
    """`alert_agents` as it was: each target's row added and flushed on its own."""
    for target in ctx.triage_targets(ticket.assignee):
        await enqueue(ctx, session, ticket, kind=kind, text=text, target=target)


async def _process(app: App) -> tuple[float, float]:
    """Wall and CPU seconds to process every stored inbox row (no delivery): on a shared
    machine the CPU time says what the work itself cost."""
    started, cpu = time.perf_counter(), time.process_time()
    while await app.desk.processor.process_pending():
        pass
    return time.perf_counter() - started, time.process_time() - cpu


async def _outbox(app: App) -> int:
    async with app.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxRow)) or 0)


async def run(tickets: int, folder: str) -> None:
    settings = load_settings(
        None,
        database={"url": f"sqlite+aiosqlite:///{folder}/bench.db"},
        email={"enabled": False},
        web={"port": 0},
        reminders={"max_automatic_per_day": 1000},
    )
    fake = FakeChannel()
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    async with App(settings, clock=clock, channels=[fake], web_enabled=False,
                   background=False) as app:  # fmt: skip
        for n in range(len(SETS) * tickets):
            await fake.say(f"person{n}", f"Problem number {n}", message_id=f"m{n}")
        await _process(app)
        figures = []
        for part, (label, targets, notices, each) in enumerate(SETS):
            app.ctx.triage_targets = (  # type: ignore[method-assign]
                lambda _assignee=None, targets=targets: list(targets)
            )
            apply.tell_agents = tell_agents if notices else _silent  # type: ignore[assignment]
            chosen = _flush_per_target if each else alert_agents
            follow_ups.alert_agents = chosen  # type: ignore[assignment]
            before = await _outbox(app)
            for n in range(part, len(SETS) * tickets, len(SETS)):
                await fake.say(f"person{n}", f"More detail on {n}: " + "words " * 40,
                               message_id=f"f{n}", thread=f"m{n}")  # fmt: skip
            wall, cpu = await _process(app)
            figures.append((label, tickets / wall, tickets / cpu, await _outbox(app) - before))
        apply.tell_agents = tell_agents
        follow_ups.alert_agents = alert_agents
    print(f"== {tickets} follow-ups per set, SQLite, one transaction per chunk (same run) ==")
    for label, rate, per_cpu, rows in figures:
        print(f"{label:34} {rate:7.0f} follow-ups/s ({per_cpu:4.0f} per CPU second), "
              f"{rows:5d} outbox rows ({per_cpu / figures[1][2]:.2f}x the cards-only "
              "baseline per CPU second)")  # fmt: skip
    print(f"notices flushed once per alert: {figures[2][2] / figures[3][2]:.2f}x the rate per "
          "CPU second with a flush per target")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args.tickets, folder))


if __name__ == "__main__":
    main()

"""Alerts for agents: one row per triage target, added together and flushed once, all delivered."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Audience, ReplyTarget
from core.delivery.enqueue import alert_agents
from core.storage.models import OutboxRow, Ticket

TRIAGE = [ReplyTarget("fake", "triage-a", ""), ReplyTarget("fake", "triage-b", ""),
          ReplyTarget("fake", "triage-c", "")]  # fmt: skip


async def test_an_alert_to_three_targets_is_one_flush_and_reaches_all_three(
    desk_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk_app.fake.say("vic", "Label printer jams", message_id="m1")
    await desk_app.drain()
    monkeypatch.setattr(desk_app.ctx, "triage_targets", lambda assignee=None: list(TRIAGE))
    flushes: list[int] = []

    async def alert(session: AsyncSession) -> list[int]:
        event.listen(session.sync_session, "after_flush", lambda *_: flushes.append(1))
        ticket = await session.scalar(select(Ticket))
        assert ticket is not None
        rows = await alert_agents(desk_app.ctx, session, ticket, "csat_low", "T-1: rated 1 of 5")
        return [row.id for row in rows]

    ids = await desk_app.db.write(alert)
    assert len(flushes) == 1, "one flush for the three rows, not one per target"
    assert len(ids) == 3 and all(isinstance(number, int) for number in ids)
    async with desk_app.db.sessions() as session:
        stored = (await session.scalars(select(OutboxRow).where(OutboxRow.id.in_(ids)))).all()
    assert sorted(row.address for row in stored) == ["triage-a", "triage-b", "triage-c"]

    before = len(desk_app.fake.sent)
    await desk_app.drain()
    alerts = [s for s in desk_app.fake.sent[before:] if s.message.kind == "csat_low"]
    assert sorted(s.target.address for s in alerts) == ["triage-a", "triage-b", "triage-c"]
    assert all(s.message.audience is Audience.AGENTS and s.message.ticket_ref == "T-1"
               for s in alerts)  # fmt: skip


async def test_no_target_no_row_and_no_flush(
    desk_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk_app.fake.say("vic", "Label printer jams", message_id="m1")
    await desk_app.drain()
    monkeypatch.setattr(desk_app.ctx, "triage_targets", lambda assignee=None: [])

    async def alert(session: AsyncSession) -> int:
        ticket = await session.scalar(select(Ticket))
        assert ticket is not None
        return len(await alert_agents(desk_app.ctx, session, ticket, "csat_low", "T-1: rated 1"))

    assert await desk_app.db.write(alert) == 0

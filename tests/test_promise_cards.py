"""The promise loop keeps triage cards current: an unsent card update is replaced, not added."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from core.channel import Audience, ReplyTarget
from core.clock import FakeClock

TRIAGE = ReplyTarget("fake", "triage", "")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


async def test_two_actions_before_delivery_leave_one_card_with_the_latest_state(
    desk_app: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk_app.fake.say("vic", "Label printer jams", message_id="m1")
    clock.set(at(23, 9))
    await desk_app.drain()
    assert (await desk_app.desk.run_as("alice", "eta T-1 2026-11-24 09:30")).ok
    clock.advance(desk_app.settings.reminders.settle)  # the ETA notice settles, then goes out
    await desk_app.drain()
    monkeypatch.setattr(desk_app.ctx, "triage_targets", lambda assignee=None: [TRIAGE])
    before = len(desk_app.fake.sent)

    clock.set(at(24, 9))
    assert await desk_app.promises.tick() == 1, "the status update, and a card for triage"
    clock.set(at(24, 9, 30))
    assert await desk_app.promises.tick() == 1, "the apology; the unsent card is brought up to date"
    await desk_app.drain()

    sent = desk_app.fake.sent[before:]
    to_customer = [s.message.kind for s in sent if s.message.audience is Audience.CUSTOMER]
    assert to_customer == ["status_update", "apology"]
    cards = [s for s in sent if s.message.kind == "card"]
    assert len(cards) == 1 and cards[0].target == TRIAGE
    card = cards[0].message.card
    assert card is not None and card.ref == "T-1" and card.excerpt == "Label printer jams"
    assert card.next_update_due == at(25, 9, 30), "the state after the apology, not before"
    [alert] = [s.message for s in sent if s.message.kind == "alert"]
    assert "T-1" in alert.text and "Set a new ETA" in alert.text

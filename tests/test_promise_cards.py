"""The promise loop keeps triage cards current: an unsent card update is replaced, not added."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from core.channel import Audience, ReplyTarget
from core.clock import FakeClock
from core.delivery.cards import make_card
from core.storage.models import Ticket

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


async def test_the_loops_card_shows_the_customers_latest_message_like_every_other_card(
    desk_app: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk_app.fake.say("vic", "Label printer jams", message_id="m1", name="Vic")
    await desk_app.drain()
    clock.set(at(23, 11, 15))
    await desk_app.fake.say("vic", "Only with the thick labels", message_id="m2", thread="m1",
                            name="Vic")  # fmt: skip
    await desk_app.drain()
    monkeypatch.setattr(desk_app.ctx, "triage_targets", lambda: [TRIAGE])
    before = len(desk_app.fake.sent)

    clock.set(at(24, 9, 30))  # the next update falls due: the loop sends it, and a card
    assert await desk_app.promises.tick() == 1
    await desk_app.drain()

    [card] = [s.message.card for s in desk_app.fake.sent[before:] if s.message.kind == "card"]
    assert card is not None and card.excerpt == "Label printer jams"
    assert (card.latest, card.latest_at, card.latest_by) == (
        "Only with the thick labels", at(23, 11, 15), "Vic",
    )  # fmt: skip
    async with desk_app.db.sessions() as session:  # the card the intake path builds agrees
        ticket = await session.get(Ticket, 1)
        assert await make_card(session, ticket) == card

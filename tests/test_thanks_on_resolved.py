"""A customer's thank-you on a resolved ticket is kept on the record and does not reopen it."""

from __future__ import annotations

from typing import Any

from core.clock import FakeClock
from tests.fake_channel import FakeChannel


async def _resolved(app: Any, fake: FakeChannel) -> None:
    await fake.say("carol", "Login broken since this morning", message_id="m1")
    await app.drain()
    assert (await app.desk.run_as("alice", "resolve T-1 The password reset went through.")).ok
    await app.drain()
    fake.sent.clear()


async def test_thanks_all_good_now_is_recorded_and_the_ticket_stays_resolved(
    desk_app: Any, clock: FakeClock
) -> None:
    fake: FakeChannel = desk_app.fake
    await _resolved(desk_app, fake)
    await fake.say("carol", "Thanks, all good now!", message_id="m2", thread="m1")
    await desk_app.drain()
    assert fake.texts_to("carol") == [], "no 'We have reopened T-1' for a thank-you"
    ticket = await desk_app.show_ticket(1)
    assert ticket["status"] == "resolved"
    said = [e["text"] for e in ticket["events"] if e["kind"] == "customer_message"]
    assert said[-1] == "Thanks, all good now!"


async def test_thanks_but_it_broke_again_still_reopens(desk_app: Any, clock: FakeClock) -> None:
    fake: FakeChannel = desk_app.fake
    await _resolved(desk_app, fake)
    await fake.say("carol", "Thanks, but it broke again.", message_id="m2", thread="m1")
    await desk_app.drain()
    assert (await desk_app.show_ticket(1))["status"] == "open"
    [reopened] = fake.texts_to("carol")
    assert "reopened" in reopened.lower()

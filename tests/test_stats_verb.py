"""The `stats [since]` verb, as an agent types it: figures, a link to the charts, plain errors."""

from __future__ import annotations

from typing import Any

from core.channel import Actor
from core.clock import FakeClock
from tests.fake_channel import FakeChannel


async def test_an_agent_asks_for_the_figures_and_gets_a_link_to_the_charts(
    desk_app: Any, clock: FakeClock
) -> None:
    fake: FakeChannel = desk_app.fake
    await fake.say("carol", "The printer on floor 2 is jammed", message_id="m1")
    await desk_app.drain()
    assert (await desk_app.desk.run_as("alice", "resolve T-1 Cleared the jam.")).ok

    reply = await desk_app.desk.run_as("alice", "stats 7d")
    assert reply.ok, reply.text
    assert "tickets opened" in reply.text
    # No [web] secret or admin token in the test settings: the reply says why there is no link.
    assert "No chart link: stats links need [web] secret or [web] admin_token" in reply.text


async def test_a_period_it_cannot_read_is_refused_by_name(desk_app: Any) -> None:
    reply = await desk_app.desk.run_as("alice", "stats banana")
    assert not reply.ok
    assert "banana" in reply.text


async def test_only_agents_may_see_the_figures(desk_app: Any) -> None:
    reply = await desk_app.desk.command(Actor("fake", "mallory", "Mallory"), "stats")
    assert not reply.ok and "not set up as an agent" in reply.text

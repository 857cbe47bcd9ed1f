"""`log <who> <text>`: a call solved on the spot is a resolved ticket in every figure, and
nobody is messaged about it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import App
from core.clock import FakeClock
from core.stats.report import stats_figures
from core.storage.models import Contact, OutboxRow, Promise
from tests.fake_channel import FakeChannel


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Any]:
    customer, slack = FakeChannel("fake"), FakeChannel("slack")
    settings = settings_factory(slack={"enabled": True, "triage_channel": "CTRIAGE"})
    async with App(settings, clock=clock, channels=[customer, slack], background=False) as app:
        app.slack = slack  # type: ignore[attr-defined]
        yield app


async def _count(app: Any, model: Any, *where: Any) -> int:
    async with app.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


async def test_a_logged_call_is_a_resolved_ticket_and_nobody_hears_of_it(desk: Any) -> None:
    said = await desk.desk.run_as(
        "alice", "log carol@example.com Printer on floor 3 jammed\nCleared the paper tray."
    )
    assert said.ok and said.text == "logged T-1 for carol@example.com: resolved on the spot"
    await desk.drain()

    assert desk.slack.sent == [], "no card, no alert"
    assert await _count(desk, OutboxRow) == 0, "no message to anyone"
    assert await _count(desk, Promise, Promise.settled_at.is_(None)) == 0, "no promise left open"
    shown = await desk.show_ticket(1)
    assert (shown["status"], shown["assignee"]) == ("resolved", "alice")
    assert shown["subject"] == "Printer on floor 3 jammed"
    words, logged = shown["events"]
    assert words["kind"] == "customer_message"
    assert words["text"] == "Printer on floor 3 jammed\nCleared the paper tray."
    assert (logged["kind"], logged["visibility"]) == ("logged", "internal")
    assert logged["text"] == "Solved on the spot and logged by alice; nobody was messaged."

    figures = await stats_figures(desk.db, desk.ctx.now())
    assert figures["logged_on_the_spot"] == 1
    assert (figures["tickets"]["opened"], figures["tickets"]["resolved"]) == (1, 1)
    assert figures["first_response_seconds"]["median"] == 0
    assert figures["resolution_seconds"]["median"] == 0
    assert figures["csat"]["asked"] == 0


@pytest.mark.parametrize(
    ("who", "channel", "address", "shown"),
    [
        ("<@U024BE7LH>", "slack", "U024BE7LH", "U024BE7LH"),
        ("<@U024BE7LH|dave>", "slack", "U024BE7LH", "U024BE7LH"),
        ("<@123456789012345678>", "discord", "123456789012345678", "123456789012345678"),
        ("<@!123456789012345678>", "discord", "123456789012345678", "123456789012345678"),
        ("Dave", "log", "dave", "Dave"),
        ('"Dave Smith"', "log", "dave smith", "Dave Smith"),
        ("Carol@Example.COM", "email", "carol@example.com", "carol@example.com"),
    ],
)
async def test_who_called_becomes_the_requester(
    desk: Any, who: str, channel: str, address: str, shown: str
) -> None:
    said = await desk.desk.run_as("bob", f"log {who} VPN would not connect; reset the profile")
    assert said.ok and said.text == f"logged T-1 for {shown}: resolved on the spot"
    async with desk.db.sessions() as session:
        [contact] = (await session.scalars(select(Contact))).all()
    assert (contact.channel, contact.address) == (channel, address)
    assert (await desk.show_ticket(1))["subject"] == "VPN would not connect; reset the profile"


async def test_a_logged_call_reopened_and_resolved_is_not_asked_for_a_rating(desk: Any) -> None:
    assert (await desk.desk.run_as("alice", "log <@U024BE7LH> Locked out; unlocked")).ok
    assert (await desk.desk.run_as("alice", "reopen T-1")).ok
    assert (await desk.desk.run_as("alice", "resolve T-1 Unlocked again")).ok
    await desk.drain()
    resolution = [s.message.text for s in desk.slack.sent if s.message.kind == "resolved"]
    assert len(resolution) == 1 and "How did we do?" not in resolution[0]
    assert "csat_asked" not in [e["kind"] for e in (await desk.show_ticket(1))["events"]]


@pytest.mark.parametrize(
    ("words", "error"),
    [
        ("log", "missing who and text; usage: log <who> <text>"),
        ("log carol@example.com", "missing text: what was the call about? usage: log <who> <text>"),
        ('log "Dave Smith"', "missing text: what was the call about? usage: log <who> <text>"),
        ("log <@nobody> Locked out",
         '"<@nobody>" is not a Slack (<@U123>) or Discord (<@123>) mention'),
        ("log carol@example Locked out", '"carol@example" is not an email address'),
        ("log 42 Locked out", '"42" is not a name; usage: log <who> <text>'),
    ],
)  # fmt: skip
async def test_bad_input_is_refused_by_name_and_changes_nothing(
    desk: Any, words: str, error: str
) -> None:
    said = await desk.desk.run_as("alice", words)
    assert not said.ok and said.text == error
    assert await desk.list_tickets() == []
    assert await _count(desk, Contact) == 0

"""Satisfaction: one question with the resolution; a reply that is only a rating is recorded,
not a reopen; a low one alerts the agents; bad ratings change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from core.clock import FakeClock
from core.csat.rating import Rating, read_rating
from core.csat.record import RatingError, record_rating
from core.stats.report import stats_figures
from core.storage.models import Ticket
from tests.fake_channel import FakeChannel

QUESTION = "How did we do? Reply with a number from 1 (poor) to 5 (great)."


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Any]:
    customer, triage = FakeChannel("fake"), FakeChannel("slack")
    settings = settings_factory(slack={"enabled": True, "triage_channel": "CTRIAGE"})
    async with App(settings, clock=clock, channels=[customer, triage], background=False) as app:
        app.customer, app.triage = customer, triage  # type: ignore[attr-defined]
        yield app


async def _resolved(app: Any, text: str = "The VPN drops every 5 minutes") -> str:
    """Carol writes, Alice resolves: returns what Carol read last."""
    await app.customer.say("carol", text, message_id="m1", name="Carol")
    await app.drain()
    reply = await app.desk.run_as("alice", "resolve T-1 Rebooted the gateway.")
    assert reply.ok and reply.text == "T-1 resolved; customer told; rating asked"
    await app.drain()
    return str(app.customer.texts_to("carol")[-1])


def _kinds(shown: dict[str, Any]) -> list[str]:
    return [event["kind"] for event in shown["events"]]


async def test_the_resolution_asks_once_and_a_rating_reply_does_not_reopen(desk: Any) -> None:
    said = await _resolved(desk)
    assert "Rebooted the gateway." in said and "marked T-1 as resolved" in said
    assert QUESTION in said

    await desk.customer.say("carol", "4 - thanks, quick fix", message_id="m2", thread="m1")
    await desk.drain()

    shown = await desk.show_ticket(1)
    assert shown["status"] == "resolved", "a rating is not a reopen"
    assert _kinds(shown).count("csat_asked") == 1
    rating = shown["events"][-1]
    assert (rating["kind"], rating["text"]) == ("csat", "4 thanks, quick fix")
    assert len(desk.customer.texts_to("carol")) == 2, "nothing more is sent: ack, resolution"
    assert not [s for s in desk.triage.sent if s.message.kind == "csat_low"]
    figures = await stats_figures(desk.db, desk.ctx.now())
    assert figures["csat"] == {"asked": 1, "answered": 1, "average": 4.0}


async def test_a_second_rating_replaces_nothing_and_asking_again_does_not_happen(
    desk: Any,
) -> None:
    await _resolved(desk)
    await desk.customer.say("carol", "★★★★★", message_id="m2", thread="m1")
    await desk.customer.say("carol", "1", message_id="m3", thread="m1")
    await desk.drain()
    shown = await desk.show_ticket(1)
    assert shown["status"] == "resolved"
    assert [e["text"] for e in shown["events"] if e["kind"] == "csat"] == ["5"]
    assert shown["events"][-1]["kind"] == "customer_message"
    assert shown["events"][-1]["text"] == "1"

    # Reopened and resolved again: the question was asked on this ticket already.
    await desk.customer.say("carol", "It broke again this morning", message_id="m4", thread="m1")
    await desk.drain()
    again = await desk.desk.run_as("alice", "resolve T-1")
    assert again.ok and again.text == "T-1 resolved; customer told"
    await desk.drain()
    assert QUESTION not in desk.customer.texts_to("carol")[-1]
    assert _kinds(await desk.show_ticket(1)).count("csat_asked") == 1


async def test_a_low_rating_alerts_the_agents_in_the_cards_thread(desk: Any) -> None:
    await _resolved(desk)
    await desk.customer.say("carol", "2: took three days", message_id="m2", thread="m1")
    await desk.drain()

    assert (await desk.show_ticket(1))["status"] == "resolved"
    [alert] = [s for s in desk.triage.sent if s.message.kind == "csat_low"]
    assert alert.target.address == "CTRIAGE"
    assert alert.target.thread, "in the card's thread"
    assert alert.message.text.startswith("Low rating on T-1 (The VPN drops every 5 minutes)")
    assert "Carol gave 2 out of 5" in alert.message.text
    assert 'They wrote: "took three days"' in alert.message.text


async def test_a_rating_out_of_range_is_a_message_and_reopens(desk: Any) -> None:
    await _resolved(desk)
    await desk.customer.say("carol", "9", message_id="m2", thread="m1")
    await desk.drain()
    shown = await desk.show_ticket(1)
    assert shown["status"] == "open", "9 is not a rating on a scale of 5: the usual reopen"
    assert "csat" not in _kinds(shown)


async def test_a_rating_after_the_reopen_window_is_a_new_ticket(desk: Any, clock: Any) -> None:
    await _resolved(desk)
    clock.advance(timedelta(days=8))
    await desk.customer.say("carol", "5", message_id="m2", thread="m1")
    await desk.drain()
    assert (await desk.show_ticket(2)) is not None
    assert "csat" not in _kinds(await desk.show_ticket(1))


async def test_never_asked_when_disabled(settings_factory: Any, clock: FakeClock) -> None:
    fake = FakeChannel()
    async with App(settings_factory(csat={"enabled": False}), clock=clock, channels=[fake],
                   background=False) as app:  # fmt: skip
        await fake.say("carol", "Printer jammed", message_id="m1")
        await app.drain()
        assert (await app.desk.run_as("alice", "resolve T-1")).ok
        await app.drain()
        assert "How did we do?" not in fake.texts_to("carol")[-1]
        assert "csat_asked" not in _kinds(await app.show_ticket(1))


async def test_never_asked_of_an_auto_responder(desk: Any) -> None:
    await desk.customer.say("noreply@alerts.example.com", "Disk at 95% on db-2", message_id="m1")
    await desk.drain()
    assert (await desk.desk.run_as("alice", "resolve T-1")).ok
    await desk.drain()
    assert "How did we do?" not in desk.customer.texts_to("noreply@alerts.example.com")[-1]
    assert "csat_asked" not in _kinds(await desk.show_ticket(1))


async def test_nor_of_a_requester_who_answered_us_automatically(desk: Any) -> None:
    await desk.customer.say("dave", "Cannot log in", message_id="m1")
    await desk.drain()
    await desk.customer.say("dave", "I am out of office", message_id="m2", thread="m1",
                            kind="auto_reply")  # fmt: skip
    await desk.drain()
    assert (await desk.desk.run_as("alice", "resolve T-1")).ok
    await desk.drain()
    assert "How did we do?" not in desk.customer.texts_to("dave")[-1]


async def _rate(app: Any, score: int) -> None:
    async def work(session: AsyncSession) -> None:
        ticket = await session.get(Ticket, 1)
        assert ticket is not None
        await record_rating(app.ctx, session, ticket, Rating(score), author="carol")

    await app.db.write(work)


async def test_bad_ratings_are_refused_by_name_and_change_nothing(desk: Any) -> None:
    await desk.customer.say("carol", "The VPN drops", message_id="m1")
    await desk.drain()
    with pytest.raises(RatingError, match=r"^T-1 is new; only a resolved ticket is rated$"):
        await _rate(desk, 4)
    assert (await desk.desk.run_as("alice", "resolve T-1")).ok
    with pytest.raises(RatingError, match=r"^a rating is a number from 1 to 5; 9 is not one$"):
        await _rate(desk, 9)
    assert "csat" not in _kinds(await desk.show_ticket(1))
    await _rate(desk, 5)
    with pytest.raises(RatingError, match=r"^T-1 is already rated; one rating per ticket$"):
        await _rate(desk, 3)
    assert [e["text"] for e in (await desk.show_ticket(1))["events"] if e["kind"] == "csat"] == [
        "5"
    ]


@pytest.mark.parametrize(
    ("text", "score", "comment"),
    [
        ("4", 4, ""),
        ("4/5", 4, ""),
        ("4 / 5", 4, ""),
        ("★★★★", 4, ""),
        ("★★★☆☆ a bit slow", 3, "a bit slow"),
        ("⭐️⭐️⭐️⭐️⭐️", 5, ""),
        ("4 - thanks", 4, "thanks"),
        ("5 stars!", 5, ""),
        ("1: nobody called back", 1, "nobody called back"),
        ("3\n\nOn Mon, Alice wrote:\n> How did we do?", 3, ""),
    ],
)
def test_what_reads_as_a_rating(text: str, score: int, comment: str) -> None:
    assert read_rating(text, 5) == Rating(score, comment)


@pytest.mark.parametrize(
    "text",
    ["9", "0", "10", "8/10", "4.5", "4 of my printers are down again", "4 - can you call me?",
     "Thanks!", "", "★★★★★★", "4 " + "word " * 60, "1" * 5000, "★" * 5000, " 4" * 3000],
)  # fmt: skip
def test_what_does_not(text: str) -> None:
    assert read_rating(text, 5) is None

"""A ticket logged from an ordinary Discord channel keeps its thread: with the real
discord.Client and fake Discord, Bob logs Alice's message in #random, Alice answers in the
thread Tidings acknowledged her in, and Bob's answer reaches her there. Chatter in other
threads of #random is never stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from channels.discord.log_menu import LOG_AS_TICKET, LOGGED
from channels.discord.ticket_threads import TicketThreads
from core.clock import FakeClock
from tests.test_discord_app import Desk
from tests.test_discord_log_as_ticket import discord_desk, inbox_size

PROBLEM = "The 3rd floor printer jams on every page"


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Desk]:
    async with discord_desk(settings_factory, clock) as running:
        yield running


async def logged_in_random(desk: Desk) -> str:
    """Alice writes in #random, Bob logs it; the id of the thread she is acknowledged in."""
    random = desk.fake.guild.channels["random"]
    said = await desk.fake.say(desk.alice, random, PROBLEM)
    await desk.settle()
    used = await desk.fake.use_on_message(desk.bob, said, LOG_AS_TICKET)
    assert used.texts() == [LOGGED]
    await desk.settle()
    [ack] = desk.fake.sent(said["id"])
    assert "T-1" in ack["content"], "Alice is acknowledged in the thread on her message"
    return str(said["id"])


def card_thread(desk: Desk) -> list[str]:
    [card] = desk.cards()
    return [m["content"] for m in desk.fake.sent(card["id"])]


async def test_alices_reply_in_the_thread_reaches_the_ticket_and_bobs_answer_reaches_her(
    desk: Desk,
) -> None:
    thread = await logged_in_random(desk)
    await desk.fake.say(desk.alice, thread, "It jams on page 2 now, even with new paper")
    await desk.settle()

    assert len(await desk.app.list_tickets()) == 1
    shown = await desk.ticket()
    said = [e["text"] for e in shown["events"] if e["kind"] == "customer_message"]
    assert said == [PROBLEM, "It jams on page 2 now, even with new paper"]
    [told] = card_thread(desk)
    assert told.startswith("T-1: Alice wrote on discord")
    assert told.endswith("It jams on page 2 now, even with new paper")

    [card] = desk.cards()
    await desk.fake.say(desk.bob, card["id"], "Please try the left tray, I am on my way")
    await desk.settle()
    answers = [m["content"] for m in desk.fake.sent(thread)]
    assert len(answers) == 2 and "Please try the left tray, I am on my way" in answers[1]
    assert len(await desk.app.list_tickets()) == 1, "no second ticket"


async def test_bob_answering_in_alices_thread_is_kept_and_not_sent_again(desk: Desk) -> None:
    thread = await logged_in_random(desk)
    await desk.fake.say(desk.bob, thread, "I am at the printer now")
    await desk.settle()

    shown = await desk.ticket()
    [kept] = [e for e in shown["events"] if e["text"] == "I am at the printer now"]
    assert kept["kind"] == "agent_reply", "on the record as Bob's answer, not the customer's"
    assert len(desk.fake.sent(thread)) == 1, "Alice has read it already: only the ack was sent"
    assert len(await desk.app.list_tickets()) == 1


async def test_after_a_restart_alices_thread_is_still_heard(desk: Desk) -> None:
    thread = await logged_in_random(desk)
    await desk.bot.stop()
    await desk.bot.start(desk.app.desk)  # a new client: it remembers nothing of the thread
    await desk.fake.say(desk.alice, thread, "Still jamming after lunch")
    await desk.settle()

    shown = await desk.ticket()
    said = [e["text"] for e in shown["events"] if e["kind"] == "customer_message"]
    assert said == [PROBLEM, "Still jamming after lunch"]
    assert card_thread(desk)[-1].endswith("Still jamming after lunch")


async def test_chatter_in_another_thread_of_random_is_not_stored(desk: Desk) -> None:
    thread = await logged_in_random(desk)
    random = desk.fake.guild.channels["random"]
    root = await desk.fake.say(desk.mallory, random, "Lunch at 12?")
    chatter = await desk.fake.start_thread(desk.mallory, root, "lunch")
    before = await inbox_size(desk.app)
    for text in ("pizza?", "sushi!", "pizza it is", "see you there"):
        await desk.fake.say(desk.mallory, chatter, text)
    await desk.fake.say(desk.bob, chatter, "count me in")
    await desk.fake.say(desk.alice, thread, "Page 3 too")
    await desk.settle()

    assert await inbox_size(desk.app) == before + 1, "only Alice's answer in her thread"
    shown = await desk.ticket()
    assert shown["events"][-1]["text"] == "Page 3 too"
    assert len(await desk.app.list_tickets()) == 1
    assert desk.fake.sent(chatter) == []
    client = desk.bot.client
    assert client is not None
    assert client.ticket_threads.lookups == 1, "the database was asked once for that thread"


class Answers:
    """A database stand-in for TicketThreads: which threads are tickets', and what was asked."""

    def __init__(self, tickets: set[str]) -> None:
        self.tickets = tickets
        self.asked: list[str] = []
        self.release = asyncio.Event()
        self.release.set()
        self.down = False

    async def __call__(self, thread: str) -> bool:
        self.asked.append(thread)
        await self.release.wait()
        if self.down:
            raise ConnectionError("database is restarting")
        return thread in self.tickets


async def test_a_burst_in_a_new_thread_asks_once_and_the_answer_is_kept_a_while() -> None:
    now = [0.0]
    answers = Answers({"10"})
    threads = TicketThreads(answers, forget_after=600.0, clock=lambda: now[0])
    answers.release.clear()
    burst = [asyncio.ensure_future(threads.holds("20")) for _ in range(5)]
    await asyncio.sleep(0)
    answers.release.set()
    assert await asyncio.gather(*burst) == [False] * 5
    assert await threads.holds("20") is False and answers.asked == ["20"]
    assert await threads.holds("10") and await threads.holds("10")
    assert answers.asked == ["20", "10"], "a ticket's thread is remembered"
    now[0] = 601.0
    assert await threads.holds("20") is False and answers.asked == ["20", "10", "20"]
    threads.add("20")  # Log as ticket on a message there: known at once, no waiting
    assert await threads.holds("20") and answers.asked == ["20", "10", "20"]


async def test_when_the_database_cannot_answer_the_message_is_kept() -> None:
    answers = Answers(set())
    threads = TicketThreads(answers)
    answers.down = True
    assert await threads.holds("30"), "unsure: stored, and the core decides"
    answers.down = False
    assert await threads.holds("30") is False, "the failure was not remembered as an answer"

"""`search <words>`: what an agent finds by subject, message or note, newest first."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Actor
from core.clock import FakeClock
from core.commands import search as search_module
from core.commands.search import MAX_WORDS, fts5_string, search_query
from core.storage.models import Ticket
from tests.fake_channel import FakeChannel


async def _three_tickets(app: Any, clock: FakeClock) -> None:
    """Carol, Dan and Erin write in, a minute apart; Carol follows up; Alice notes on Dan's."""
    fake: FakeChannel = app.fake
    for user, words in [
        ("carol", "The VPN drops every 5 minutes"),
        ("dan", "Printer on floor 2 prints blank pages"),
        ("erin", "VPN client will not install"),
    ]:
        await fake.say(user, words, message_id=f"m-{user}")
        await app.drain()
        clock.advance(timedelta(minutes=1))
    await fake.say("carol", "Still dropping, also the wifi", message_id="m4", thread="m-carol")
    await app.drain()
    assert (await app.desk.run_as("alice", "note T-2 toner cartridge is the culprit")).ok


async def _search(app: Any, words: str) -> list[str]:
    reply = await app.desk.run_as("alice", f"search {words}")
    assert reply.ok, reply.text
    return reply.text.splitlines()


async def test_search_finds_subjects_messages_and_notes_newest_first(
    desk_app: Any, clock: FakeClock
) -> None:
    await _three_tickets(desk_app, clock)

    vpn = await _search(desk_app, "vpn")
    assert [line.split()[0] for line in vpn] == ["T-3", "T-1"], "newest first"
    assert vpn[0] == "T-3 [new] VPN client will not install — opened Mon 23 Nov, 09:02 (UTC)"
    assert await _search(desk_app, "WiFi") == [
        "T-1 [new] The VPN drops every 5 minutes — opened Mon 23 Nov, 09:00 (UTC)"
    ], "a follow-up message counts, in any letter case"
    assert [line.split()[0] for line in await _search(desk_app, "toner culprit")] == ["T-2"]
    assert await _search(desk_app, "vpn toner") == ["no tickets match vpn toner"]
    assert [line.split()[0] for line in await _search(desk_app, "vpn wifi")] == ["T-1"], (
        "one word in the subject, the other in a later message"
    )
    assert [line.split()[0] for line in await _search(desk_app, "printer culprit")] == ["T-2"]
    # Acknowledgements say the same words on every ticket; they are not searched.
    assert await _search(desk_app, "hear") == ["no tickets match hear"]


async def test_the_index_follows_a_changed_subject(desk_app: Any, clock: FakeClock) -> None:
    await _three_tickets(desk_app, clock)

    async def rename(session: AsyncSession) -> None:
        await session.execute(update(Ticket).where(Ticket.id == 2).values(subject="Toner low"))

    await desk_app.db.write(rename)
    assert [line.split()[0] for line in await _search(desk_app, "low")] == ["T-2"]
    async with desk_app.db.sessions() as session:
        if session.get_bind().dialect.name == "sqlite":  # PostgreSQL indexes the column itself
            old = "SELECT rowid FROM ticket_subject_fts WHERE ticket_subject_fts MATCH 'printer'"
            assert (await session.execute(text(old))).all() == [], "the old subject is forgotten"
    # The customer's first message still says "printer".
    assert [line.split()[0] for line in await _search(desk_app, "printer")] == ["T-2"]


@pytest.mark.parametrize(
    "hostile",
    [
        'vpn" OR "printer',
        "vpn OR printer",
        "NEAR(vpn printer)",
        "subject:vpn",
        "vpn*",
        "^vpn",
        "vpn AND NOT printer",
        "'); DROP TABLE tickets; --",
        "vpn & !printer | (x:*)",
        "vpn\x00printer",
        "vpn\x00",
    ],
)
async def test_hostile_words_are_only_words(desk_app: Any, clock: FakeClock, hostile: str) -> None:
    await _three_tickets(desk_app, clock)
    reply = await desk_app.desk.run_as("alice", f"search {hostile}")
    assert reply.ok, reply.text
    # Every word must match; operators are words too, which no ticket holds (at most the
    # tickets with "vpn" when the rest of the words are punctuation).
    found = {line.split()[0] for line in reply.text.splitlines() if line.startswith("T-")}
    assert found <= {"T-1", "T-3"}
    assert len(await desk_app.list_tickets()) == 3, "nothing was dropped"


async def test_a_long_list_shows_the_newest_twenty_and_says_so(desk_app: Any) -> None:
    for n in range(1, 23):
        await desk_app.fake.say(f"user{n}", f"VPN trouble number {n}", message_id=f"m{n}")
    await desk_app.drain()
    lines = await _search(desk_app, "trouble")
    assert [line.split()[0] for line in lines[:20]] == [f"T-{n}" for n in range(22, 2, -1)]
    assert lines[20:] == ["(the newest 20 shown; add words to narrow the search)"]
    assert await _search(desk_app, "trouble 7") == [
        "T-7 [new] VPN trouble number 7 — opened Mon 23 Nov, 09:00 (UTC)"
    ]


def test_the_migration_indexes_the_kinds_search_reads() -> None:
    path = Path(search_module.__file__).parents[1] / "storage/migrations/versions/0003_search.py"
    spec = importlib.util.spec_from_file_location("migration_0003", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration._KINDS == search_module._KINDS
    assert f"kind IN {search_module._KINDS}" in search_module._POSTGRESQL_WORD


def test_every_word_is_one_fts5_string_and_a_bound_parameter() -> None:
    assert [fts5_string(word) for word in ["vpn", 'say"hi"', "NEAR(x"]] == [
        '"vpn"',
        '"say""hi"""',
        '"NEAR(x"',
    ]
    query = search_query("sqlite", ["vpn", "'); DROP"], 20)
    assert "vpn" not in str(query.statement) and "DROP" not in str(query.statement)
    assert query.parameters == {"word0": '"vpn"', "word1": '"\'); DROP"', "limit": 20}


async def test_bad_searches_say_what_is_wrong(desk_app: Any, clock: FakeClock) -> None:
    await _three_tickets(desk_app, clock)
    run = desk_app.desk.run_as
    assert (await run("alice", "search")).text == "missing words; usage: search <words>"
    assert (await run("alice", 'search * - "')).text == (
        "search needs at least one word with letters or digits"
    )
    many = " ".join(f"w{n}" for n in range(MAX_WORDS + 1))
    assert (await run("alice", f"search {many}")).text == (
        f"search takes at most {MAX_WORDS} words; {MAX_WORDS + 1} were given"
    )
    assert not (await run("alice", "search " + "x" * 65)).ok


async def test_only_agents_search(desk_app: Any, clock: FakeClock) -> None:
    await _three_tickets(desk_app, clock)
    refused = await desk_app.desk.command(Actor("cli", "mallory"), "search vpn")
    assert not refused.ok and "T-1" not in refused.text


async def test_search_answers_from_the_index(desk_app: Any, clock: FakeClock) -> None:
    """The query plan reads the FTS5 tables (SQLite) or the GIN indexes (PostgreSQL)."""
    await _three_tickets(desk_app, clock)
    async with desk_app.db.sessions() as session:
        dialect = session.get_bind().dialect.name
        query = search_query(dialect, ["vpn"], 20)
        if dialect == "sqlite":
            explain = text("EXPLAIN QUERY PLAN " + str(query.statement))
            plan = " | ".join(
                str(row[-1]) for row in await session.execute(explain, query.parameters)
            )
            assert "VIRTUAL TABLE INDEX" in plan and "ticket_subject_fts" in plan, plan
            assert "SCAN ticket_event_fts VIRTUAL TABLE INDEX" in plan, plan
            assert "SCAN ticket_events" not in plan.replace("ticket_event_fts", ""), plan
        else:
            # A three-ticket table is cheaper to scan; forbid that to see the index is usable.
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            explain = text("EXPLAIN " + str(query.statement))
            plan = "\n".join(row[0] for row in await session.execute(explain, query.parameters))
            assert "ix_tickets_subject_search" in plan, plan
            assert "ix_events_text_search" in plan, plan

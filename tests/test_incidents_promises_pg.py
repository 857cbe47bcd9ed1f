"""Two promise loops on one PostgreSQL database give an incident one round, not two."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from core.clock import FakeClock
from tests.conftest import PG_URL, make_settings
from tests.fake_channel import FakeChannel

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs TIDINGS_TEST_DATABASE_URL (CI sets it)")
CUSTOMERS = 30


@pytest.fixture
def pg_url() -> Iterator[str]:
    from tests.conftest import _pg_database

    yield from _pg_database()


async def test_two_loops_ticking_together_tell_each_linked_customer_once(
    pg_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    from bot.app import App
    from core.context import Context
    from core.promises.loop import PromiseLoop
    from core.storage.db import Database

    settings = make_settings(pg_url, tmp_path, reminders={"cadence": {"high": "1h"}})
    fake = FakeChannel()
    async with App(settings, clock=clock, channels=[fake], background=False) as app:
        for n in range(CUSTOMERS):
            await fake.say(f"c{n}", "Card payments fail", message_id=f"m{n}")
        await app.drain()
        assert (await app.desk.run_as("alice", "incident Card payments failing")).ok
        for n in range(1, CUSTOMERS + 1):
            assert (await app.desk.run_as("alice", f"link T-{n} INC-1")).ok
        assert (await app.desk.run_as("alice", "reply INC-1 Looking into it.")).ok
        await app.drain()
        before = len(fake.sent)

        other_db = Database(pg_url)
        other = PromiseLoop(other_db, Context(settings, clock))
        try:
            # 09:45 the nudge, 10:00 the incident's update: each tick raced by the other loop.
            for step in (timedelta(minutes=45), timedelta(minutes=15)):
                clock.advance(step)
                await asyncio.gather(app.promises.tick(), other.tick(), app.promises.tick(),
                                     other.tick())  # fmt: skip
        finally:
            await other_db.dispose()
        await app.drain()
        updates = Counter(s.target.address for s in fake.sent[before:]
                          if s.message.kind == "status_update")  # fmt: skip
        assert updates == Counter({f"c{n}": 1 for n in range(CUSTOMERS)})

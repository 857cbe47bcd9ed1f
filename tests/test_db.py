"""The database layer's promises: readers never wait for the writer; writers take turns."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import RawInbound
from core.intake.writer import InboxWriter
from core.storage.db import Database
from core.storage.models import InboxRow


async def _database(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/tidings.db")
    await db.upgrade()
    return db


async def test_a_reader_does_not_wait_for_an_open_write_transaction(tmp_path: Path) -> None:
    db = await _database(tmp_path)

    async def work(writer: AsyncSession) -> None:
        await writer.execute(text("UPDATE inbox SET attempts = attempts + 1"))
        # The write transaction holds SQLite's write lock; a reader still answers at once.
        async with asyncio.timeout(5), db.sessions() as reader:
            assert await reader.scalar(select(func.count()).select_from(InboxRow)) == 0

    try:
        await db.write(work)
    finally:
        await db.dispose()


async def test_a_write_inside_a_write_fails_at_once_instead_of_hanging(tmp_path: Path) -> None:
    db = await _database(tmp_path)

    async def nothing(session: AsyncSession) -> None:
        pass

    async def outer(session: AsyncSession) -> None:
        with pytest.raises(RuntimeError, match="inside another"):
            async with asyncio.timeout(5):
                await db.write(nothing)
        with pytest.raises(RuntimeError, match="inside another"):
            async with asyncio.timeout(5):
                await db.write(lambda connection: None)

    try:
        await db.write(outer)
        # Taking turns: two writers started together both finish, one after the other.
        order: list[str] = []

        async def write(name: str) -> None:
            async def work(session: AsyncSession) -> None:
                await session.execute(text("UPDATE inbox SET attempts = attempts + 1"))
                order.append(name)

            await db.write(work)

        async with asyncio.timeout(10):
            await asyncio.gather(write("first"), write("second"))
        assert order == ["first", "second"]
    finally:
        await db.dispose()


async def test_an_inline_write_waits_off_the_loop_while_another_process_holds_the_lock(
    tmp_path: Path,
) -> None:
    db = await _database(tmp_path)
    other = sqlite3.connect(tmp_path / "tidings.db", isolation_level=None)
    try:
        # Another process (the CLI, say) holds SQLite's write lock.
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE inbox SET attempts = attempts + 1")
        write = asyncio.create_task(
            db.write(
                lambda connection: connection.exec_driver_sql("SELECT 1").scalar(), urgent=True
            )
        )
        # The loop is not blocked by the waiting write: this task runs while it waits.
        ticks = 0
        for _ in range(20):
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done() and ticks == 20
        other.execute("COMMIT")
        async with asyncio.timeout(10):
            assert await write == 1
    finally:
        other.close()
        await db.dispose()


async def test_the_inbox_writer_stores_times_that_read_back_unchanged(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    when = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
    writer = InboxWriter(db, lambda: when)
    try:
        assert await writer.put(RawInbound("email", "a|<1@x>", b"one")) is True
        assert await writer.put(RawInbound("email", "a|<1@x>", b"one again")) is False
        async with db.sessions() as session:
            row = (await session.scalars(select(InboxRow))).one()
        assert (row.received_at, row.payload, row.outcome, row.attempts) == (when, b"one", "", 0)
        assert row.processed_at is None
    finally:
        await db.dispose()


async def test_a_caller_that_gives_up_does_not_stop_its_batch(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    writer = InboxWriter(db, lambda: datetime.now(UTC))
    try:
        gone = asyncio.create_task(writer.put(RawInbound("email", "a|<1@x>", b"one")))
        stays = asyncio.create_task(writer.put(RawInbound("email", "b|<2@x>", b"two")))
        await asyncio.sleep(0)  # both are queued for the same batch
        gone.cancel()  # say, the SMTP client hung up before the 250
        async with asyncio.timeout(5):
            assert await stays is True
        with pytest.raises(asyncio.CancelledError):
            await gone
        async with db.sessions() as session:
            stored = set((await session.scalars(select(InboxRow.payload))).all())
        assert stored == {b"one", b"two"}  # stored anyway; an MTA retry is then a duplicate
    finally:
        await db.dispose()


async def test_the_inbox_writer_reconnects_when_postgresql_drops_its_connection(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("a PostgreSQL server's connection")
    db = Database(database_url)
    await db.upgrade()
    writer = InboxWriter(db, lambda: datetime.now(UTC))
    try:
        assert await writer.put(RawInbound("email", "a|<1@x>", b"one")) is True
        # The server ends every other session (a restart, a failover, an idle timeout).
        async with db.engine.connect() as admin:
            await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        async with asyncio.timeout(10):
            assert await writer.put(RawInbound("email", "b|<2@x>", b"two")) is True
            assert await writer.put(RawInbound("email", "b|<2@x>", b"two")) is False
        assert "connection was lost; reconnecting" in caplog.text
        async with db.sessions() as session:
            stored = set((await session.scalars(select(InboxRow.payload))).all())
        assert stored == {b"one", b"two"}
    finally:
        await db.dispose()


async def test_a_plain_function_returning_a_coroutine_is_refused_not_lost(tmp_path: Path) -> None:
    db = await _database(tmp_path)

    async def work(session: AsyncSession) -> None:
        await session.execute(text("UPDATE inbox SET attempts = attempts + 1"))

    try:
        with pytest.raises(TypeError, match="pass the async def"):
            await db.write(lambda session: work(session))
    finally:
        await db.dispose()

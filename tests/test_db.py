"""The database layer's promises: readers never wait for the writer; writers take turns."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from core.db import Database
from core.models import InboxRow


async def _database(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/tidings.db")
    await db.upgrade()
    return db


async def test_a_reader_does_not_wait_for_an_open_write_transaction(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    try:
        async with db.transaction() as writer:
            await writer.execute(text("UPDATE inbox SET attempts = attempts + 1"))
            # The write transaction holds SQLite's write lock; a reader still answers at once.
            async with asyncio.timeout(5), db.sessions() as reader:
                assert await reader.scalar(select(func.count()).select_from(InboxRow)) == 0
    finally:
        await db.dispose()


async def test_a_write_inside_a_write_fails_at_once_instead_of_hanging(tmp_path: Path) -> None:
    db = await _database(tmp_path)
    try:
        async with db.transaction():
            with pytest.raises(RuntimeError, match="inside another"):
                async with asyncio.timeout(5), db.transaction():
                    pass
            with pytest.raises(RuntimeError, match="inside another"):
                async with asyncio.timeout(5):
                    await db.write_sync(lambda connection: None)
        # Taking turns: two writers started together both finish, one after the other.
        order: list[str] = []

        async def write(name: str) -> None:
            async with db.transaction() as session:
                await session.execute(text("UPDATE inbox SET attempts = attempts + 1"))
                order.append(name)

        async with asyncio.timeout(10):
            await asyncio.gather(write("first"), write("second"))
        assert order == ["first", "second"]
    finally:
        await db.dispose()

"""Shared fixtures: a database on SQLite (always) and PostgreSQL (when configured), a fake clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.clock import FakeClock

PG_URL = os.environ.get("TIDINGS_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for one test: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/tidings.db"
        return
    yield from _pg_database()


def _pg_database() -> Iterator[str]:
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(PG_URL)
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # a Monday morning


def make_settings(database_url: str, tmp_path: Path, **sections: Any) -> Any:
    from core.config import load_settings

    defaults: dict[str, Any] = {
        "database": {"url": database_url},
        "email": {"enabled": False, "attachments_dir": str(tmp_path / "attachments")},
        "web": {"port": 0},
        # Agents with an email address get notices by mail: the tests of that set one.
        "agents": {"alice": {"slack": "UALICE", "discord": "1001"}, "bob": {"slack": "UBOB"}},
    }  # fmt: skip
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(defaults.get(key), dict):
            defaults[key] = {**defaults[key], **value}
        else:
            defaults[key] = value
    return load_settings(None, **defaults)


@pytest.fixture
def settings_factory(database_url: str, tmp_path: Path) -> Any:
    def factory(**sections: Any) -> Any:
        return make_settings(database_url, tmp_path, **sections)

    return factory


@pytest.fixture
async def desk_app(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Any]:
    """An App with one FakeChannel, no background workers: tests drive it with drain()."""
    from bot.app import App
    from tests.fake_channel import FakeChannel

    fake = FakeChannel()
    async with App(settings_factory(), clock=clock, channels=[fake], background=False) as app:
        app.fake = fake  # type: ignore[attr-defined]
        yield app

"""`tidings tickets list --search WORDS`, and tickets from before the index are found too."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, text

from bot.app import App
from bot.cli import main
from core.clock import FakeClock
from core.commands.search import search_summaries
from core.storage.db import Database, alembic_config
from core.storage.models import Contact, Ticket, TicketEvent, table_of
from tests.fake_channel import FakeChannel


def _tidings(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(_tidings, capsys, *argv)


async def test_tickets_list_search(
    database_url: str,
    settings_factory: Any,
    clock: FakeClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n[email]\nenabled = false\n')
    fake = FakeChannel()
    async with App(settings_factory(), clock=clock, channels=[fake], background=False) as app:
        await fake.say("carol", "Calendar sync is broken", message_id="m1", name="Carol")
        await fake.say("dan", "Printer jammed", message_id="m2")
        await fake.say("erin", "Calendar invites vanish", message_id="m3")
        await app.drain()
        assert (await app.desk.run_as("alice", "reply T-3 Restored from backup")).ok

        code, out, _ = await _cli(capsys, "tickets", "list", "--search", "calendar", "--config",
                                  str(config))  # fmt: skip
        assert code == 0
        header, *rows = out.splitlines()
        assert header.split()[0] == "TICKET"
        assert [row.split()[0] for row in rows] == ["T-3", "T-1"], "newest first"

        code, out, _ = await _cli(capsys, "tickets", "list", "--search", "calendar", "--status",
                                  "new", "--json", "--config", str(config))  # fmt: skip
        [found] = json.loads(out)
        assert found["ref"] == "T-1" and found["requester"]["name"] == "Carol"

        code, out, _ = await _cli(capsys, "tickets", "list", "--search", "backup", "--config",
                                  str(config))  # fmt: skip
        assert [row.split()[0] for row in out.splitlines()[1:]] == ["T-3"], "an agent's words"

        code, out, err = await _cli(capsys, "tickets", "list", "--search", "* ( )", "--config",
                                    str(config))  # fmt: skip
        assert code == 2 and out == ""
        assert err == "tidings: search needs at least one word with letters or digits\n"


def _old_rows(connection: Connection) -> None:
    """Tickets written before migration 0003 existed."""
    command.upgrade(_config_on(connection), "0001")
    at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    connection.execute(insert(table_of(Contact)), [
        {"id": 1, "channel": "email", "address": "carol@example.com", "name": "Carol",
         "created_at": at}])  # fmt: skip
    connection.execute(insert(table_of(Ticket)), [
        {"id": n, "status": "open", "priority": "normal", "subject": subject, "requester_id": 1,
         "reply_channel": "email", "reply_address": "carol@example.com", "reply_thread": "",
         "waiting_on": "", "created_at": at, "updated_at": at}
        for n, subject in ((1, "Laptop fan noise"), (2, "Mailbox full"))])  # fmt: skip
    connection.execute(insert(table_of(TicketEvent)), [
        {"ticket_id": n, "kind": kind, "visibility": "public", "author": "", "text": words,
         "at": at, "channel": "email", "external_id": ""}
        for n, kind, words in ((1, "customer_message", "It whirrs loudly"),
                               (2, "customer_message", "Quota exceeded again"),
                               (2, "status_update", "Still whirrs? No: a reminder"))])  # fmt: skip


def _config_on(connection: Connection) -> Any:
    config = alembic_config()
    config.attributes["connection"] = connection
    return config


async def test_the_migration_indexes_tickets_already_there(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(_old_rows)
        await db.upgrade()
        async with db.sessions() as session:
            found = await search_summaries(session, "whirrs")
            assert [t["ref"] for t in found] == ["T-1"], "a reminder's words are not searched"
            assert [t["ref"] for t in await search_summaries(session, "mailbox")] == ["T-2"]
            version = await session.scalar(text("SELECT version_num FROM alembic_version"))
            assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
    finally:
        await db.dispose()

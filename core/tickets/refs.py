"""Keys that name a ticket's conversation on a channel: message ids, thread ids, tokens."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.models import Ticket, TicketRef


def insert_ignore(bind: AsyncSession | str) -> Any:
    """The dialect's own INSERT (which has ON CONFLICT), for a session or a dialect name."""
    name = bind if isinstance(bind, str) else bind.get_bind().dialect.name
    return pg_insert if name == "postgresql" else sqlite_insert


async def register_keys(
    session: AsyncSession, channel: str, keys: list[str] | tuple[str, ...], ticket_id: int
) -> None:
    """Remember keys naming this ticket's conversation; the first ticket to claim a key keeps it."""
    wanted = sorted({key for key in keys if key})
    if not wanted:
        return
    insert = insert_ignore(session)
    await session.execute(
        insert(TicketRef)
        .values([{"channel": channel, "key": key, "ticket_id": ticket_id} for key in wanted])
        .on_conflict_do_nothing()
    )


def repoint_keys(channel: str, keys: tuple[str, ...], ticket_id: int) -> Any:
    """The UPDATE that hands known keys over to another ticket."""
    return (
        update(TicketRef)
        .where(TicketRef.channel == channel, TicketRef.key.in_(keys))
        .values(ticket_id=ticket_id)
    )


async def ticket_by_keys(
    session: AsyncSession, channel: str, keys: tuple[str, ...]
) -> Ticket | None:
    """The ticket named by the first key that is known, in the order given."""
    wanted = [key for key in keys if key]
    if not wanted:
        return None
    rows = (
        await session.execute(
            select(TicketRef.key, TicketRef.ticket_id).where(
                TicketRef.channel == channel, TicketRef.key.in_(wanted)
            )
        )
    ).all()
    by_key = {key: ticket_id for key, ticket_id in rows}
    for key in wanted:
        if key in by_key:
            return await session.get(Ticket, by_key[key], with_for_update=True)
    return None


def claim_conversations(connection: Connection, keys: set[tuple[str, str]]) -> None:
    """Hold these conversation keys until the transaction ends (PostgreSQL; SQLite has one
    writer at a time already).

    Two processes applying messages of one conversation at once would each find no ticket
    and open one apiece: the reply would look the key up before the opening committed it. So
    a writer claims every key its messages name before looking any up, and a second writer
    naming one of them waits for the first to commit, then finds its ticket. Claimed in one
    statement, in sorted order, so two writers never wait for each other in a circle."""
    if not keys or connection.dialect.name != "postgresql":
        return
    locks = sorted({_lock_id(channel, key) for channel, key in keys})
    connection.execute(
        text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:locks AS bigint[])) k"),
        {"locks": locks},
    )


def _lock_id(channel: str, key: str) -> int:
    """A signed 64-bit lock id for a key (two keys sharing one only wait for each other)."""
    digest = hashlib.blake2b(f"{channel}\n{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)

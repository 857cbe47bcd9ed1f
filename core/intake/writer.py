"""The inbox writer: raw payloads group-committed before the platform is acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Dialect

from core.channel import RawInbound
from core.storage.db import Database
from core.storage.models import InboxRow, table_of

MAX_BATCH = 500


class InboxWriter:
    """Persists raw payloads; concurrent callers share one transaction (group commit).

    A caller's `put` returns only after the transaction holding its row has committed, so the
    adapter can acknowledge the platform knowing a crash now loses nothing.
    """

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.now = clock
        self._pending: list[tuple[RawInbound, asyncio.Future[int | None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.stored = asyncio.Event()  # set after each commit, for the processor
        self.batches = 0

    async def put(self, raw: RawInbound) -> bool:
        """Store `raw`; True when new, False when (channel, external_id) was already there."""
        return await self.store(raw) is not None

    async def store(self, raw: RawInbound) -> int | None:
        """Store `raw`; its inbox row's id when new, None when (channel, external_id) was
        already there."""
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._pending.append((raw, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        # A caller cancelled meanwhile (its connection dropped) cancels only its own future: the
        # row is still stored with its batch, and the flush skips answering a done future.
        return await future

    async def _flush_all(self) -> None:
        while self._pending:
            # Let every caller that is ready this loop iteration join the batch.
            await asyncio.sleep(0)
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                new_rows = await self._write(batch)
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            seen: set[tuple[str, str]] = set()
            for raw, future in batch:
                key = (raw.channel, raw.external_id)
                row_id = new_rows.get(key) if key not in seen else None
                seen.add(key)
                if not future.done():
                    future.set_result(row_id)
            self.batches += 1
            self.stored.set()

    async def _write(
        self, batch: list[tuple[RawInbound, asyncio.Future[int | None]]]
    ) -> dict[tuple[str, str], int]:
        """One transaction for the whole batch; returns the new rows' ids by key (a key stored
        before is not among them)."""
        now = self.now()
        unique: dict[tuple[str, str], RawInbound] = {}
        for raw, _ in batch:
            unique.setdefault((raw.channel, raw.external_id), raw)
        # Urgent: the platform waits for this commit to be acknowledged (see Database.write).
        return await self.db.write(
            lambda connection: self._store(connection, unique, now), urgent=True
        )

    def _store(
        self,
        connection: Connection,
        unique: dict[tuple[str, str], RawInbound],
        now: datetime,
    ) -> dict[tuple[str, str], int]:
        if self.db.is_sqlite:
            return _store_sqlite(connection, unique, now)
        statement = pg_insert(InboxRow).on_conflict_do_nothing(
            index_elements=["channel", "external_id"]
        )
        rows = {
            key: {"channel": key[0], "external_id": key[1], "payload": raw.payload,
                  "received_at": now, "outcome": "", "attempts": 0}
            for key, raw in unique.items()
        }  # fmt: skip
        if len(unique) == 1:
            # Alone in its batch (a quiet moment): a row comes back only when it was new.
            [(key, row)] = rows.items()
            row_id = connection.execute(statement.returning(InboxRow.id), row).scalar()
            return {key: row_id} if row_id is not None else {}
        # One multi-row INSERT: RETURNING names the rows that were new (a duplicate, or a row a
        # racing process stored first, is skipped by DO NOTHING and not returned).
        inserted = connection.execute(
            statement.returning(InboxRow.channel, InboxRow.external_id, InboxRow.id),
            list(rows.values()),
        )
        return {(channel, external_id): row_id for channel, external_id, row_id in inserted}


_SQLITE_STORE = (
    "INSERT INTO inbox (channel, external_id, payload, received_at, outcome, attempts)"
    " VALUES (?, ?, ?, ?, '', 0) ON CONFLICT (channel, external_id) DO NOTHING"
)


def _store_sqlite(
    connection: Connection, unique: dict[tuple[str, str], RawInbound], now: datetime
) -> dict[tuple[str, str], int]:
    """The SQLite inbox insert on the driver's own cursor, a row at a time.

    This runs on the acknowledgement path, once per batch: through SQLAlchemy's execution the
    statement cost more than SQLite's own insert and commit together. A row at a time, the
    cursor's row count says whether each row was new (DO NOTHING skips a duplicate), and its
    last row id is the new row's.
    """
    when = _sqlite_time(now, connection.dialect)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        new: dict[tuple[str, str], int] = {}
        for key, raw in unique.items():
            cursor.execute(_SQLITE_STORE, (key[0], key[1], raw.payload, when))
            if cursor.rowcount == 1:
                new[key] = cursor.lastrowid
        return new
    finally:
        cursor.close()


def _sqlite_time(now: datetime, dialect: Dialect) -> object:
    """`now` as the column's own type would bind it, so raw and ORM rows read back alike."""
    process = table_of(InboxRow).c.received_at.type.bind_processor(dialect)
    return process(now) if process is not None else now

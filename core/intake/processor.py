"""The inbox processor: stored payloads decoded and applied to tickets, in arrival order."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Select, Update, bindparam, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import (
    AgentMessage,
    Channel,
    Decoded,
    Ignored,
    InboundKind,
    InboundMessage,
)
from core.context import Context
from core.intake.apply import Outcome, apply_agent_message, apply_inbound
from core.intake.decoding import Decoding
from core.intake.opening import NewTicket, open_tickets, open_tickets_now
from core.storage.db import Database
from core.storage.models import InboxRow, TicketRef, table_of

log = logging.getLogger(__name__)

MAX_PROCESS_ATTEMPTS = 5
# Work per transaction, in rows that open tickets together (1 each) or one by one (ROW_COST
# each). Fewer commits is faster, but on SQLite a transaction holds the one write lock, and the
# SMTP/Slack acknowledgement path waits for it: keep the hold to some tens of milliseconds.
CHUNK_BUDGET = 64
ROW_COST = 8
# Payload bytes one batch holds in memory (and hands to the decoding worker): a burst of large
# mails (up to email.max_message_bytes each) is taken a few at a time, not 200 at once.
BATCH_BYTES = 32 * 1024 * 1024


def _within_budget(sizes: Sequence[tuple[int, int | None]], budget: int) -> list[int]:
    """The ids of the first rows whose sizes fit in `budget`, and always the first row."""
    taken: list[int] = []
    total = 0
    for row_id, size in sizes:
        total += size or 0
        if taken and total > budget:
            break
        taken.append(row_id)
    return taken


class InboxProcessor:
    """Decodes stored payloads with their channel's pure decoder and applies them to tickets."""

    def __init__(self, db: Database, ctx: Context, channels: Mapping[str, Channel]) -> None:
        self.db = db
        self.ctx = ctx
        self.channels = channels
        self.opened_in_bulk = 0  # tickets opened together rather than one by one (for tests)
        self.decoding = Decoding(channels)

    async def process_pending(self, limit: int = 200) -> int:
        """Process up to `limit` stored rows, and at most BATCH_BYTES of payload (but always
        one row); return how many were handled."""
        sizes = (
            select(InboxRow.id, func.length(InboxRow.payload))
            .where(InboxRow.processed_at.is_(None))
            .where(InboxRow.channel.in_(list(self.channels)))
            .order_by(InboxRow.id)
            .limit(limit)
        )
        async with self.db.sessions() as session:
            ids = _within_budget((await session.execute(sizes)).all(), BATCH_BYTES)
            if not ids:
                return 0
            query = (
                select(InboxRow.id, InboxRow.channel, InboxRow.payload)
                .where(InboxRow.id.in_(ids))
                .order_by(InboxRow.id)
            )
            rows = (await session.execute(query)).all()
        chunk: list[tuple[int, Decoded | Exception]] = []
        weight = 0
        # Decoding is CPU work: off the event loop, and a burst in another process (see
        # core/intake/decoding.py); a part is applied while the next one is decoded.
        stored = [(row.id, row.channel, row.payload) for row in rows]
        async with contextlib.aclosing(self.decoding.parts(stored)) as parts:
            async for part in parts:
                for item in part:
                    cost = 1 if _may_open(item[1]) else ROW_COST
                    if chunk and weight + cost > CHUNK_BUDGET:
                        await self._apply_batch(chunk)
                        chunk, weight = [], 0
                    chunk.append(item)
                    weight += cost
        if chunk:
            await self._apply_batch(chunk)
        return len(rows)

    async def _apply_batch(self, decoded: list[tuple[int, Decoded | Exception]]) -> None:
        """Apply a batch in one transaction (one commit). New conversations are opened together
        in a few statements; every other row gets its own savepoint, so a row that fails rolls
        back alone and is retried later."""
        if self.db.is_sqlite and all(_may_open(result) for _, result in decoded):
            # A burst of new mail: the whole chunk in one trip to the writer thread. Statement
            # by statement through the async driver, each round trip waits for the busy event
            # loop, and SQLite's one write lock (which the SMTP acknowledgements queue for) is
            # held all that while.
            try:
                opened = await self.db.write_sync(lambda sync: self._open_chunk(sync, decoded))
            except Exception:
                log.exception("opening %s tickets at once failed; one by one", len(decoded))
                opened = None
            if opened is not None:
                self.opened_in_bulk += opened
                return
        failures: list[tuple[int, Exception]] = []
        done: list[dict[str, object]] = []
        ids = [row_id for row_id, _ in decoded]
        async with self.db.transaction() as session:
            claim = _unprocessed(ids)
            if not self.db.is_sqlite:
                # Several processors may share PostgreSQL: each row is applied by one of them.
                claim = claim.with_for_update(skip_locked=True)
            mine = set((await session.scalars(claim)).all())
            rows = [(row_id, result) for row_id, result in decoded if row_id in mine]
            known: set[tuple[str, str]] = set()
            for query in _known_keys_queries(rows):
                known.update((channel, key) for channel, key in await session.execute(query))
            openers = _openers(rows, known)
            group: list[tuple[int, InboundMessage]] = []
            for row_id, result in rows:
                if row_id in openers:
                    assert isinstance(result, InboundMessage)
                    group.append((row_id, result))
                    continue
                # Keep arrival order: tickets opened before this row exist when it is applied.
                await self._open_group(session, group, done, failures)
                group = []
                await self._apply_one(session, row_id, result, done, failures)
            await self._open_group(session, group, done, failures)
            if done:
                connection = await session.connection()
                await connection.execute(_mark_processed(self.ctx.now()), done)
        for row_id, error in failures:
            await self._record_failure(row_id, error)

    def _open_chunk(
        self, connection: Connection, decoded: list[tuple[int, Decoded | Exception]]
    ) -> int | None:
        """Claim, check, open and mark the chunk synchronously; how many tickets were opened, or
        None (and nothing written) when a row turns out to join a known conversation."""
        mine = set(connection.scalars(_unprocessed([row_id for row_id, _ in decoded])))
        rows = [(row_id, result) for row_id, result in decoded if row_id in mine]
        known: set[tuple[str, str]] = set()
        for query in _known_keys_queries(rows):
            known.update((channel, key) for channel, key in connection.execute(query))
        if _openers(rows, known) != {row_id for row_id, _ in rows}:
            return None
        messages = [result for _, result in rows if isinstance(result, InboundMessage)]
        ticket_ids = open_tickets_now(self.ctx, connection, [NewTicket(m) for m in messages])
        done = [
            {"row_id": row_id, "outcome": f"opened T-{ticket_id}", "ticket_id": ticket_id}
            for (row_id, _), ticket_id in zip(rows, ticket_ids, strict=True)
        ]
        if done:
            connection.execute(_mark_processed(self.ctx.now()), done)
        return len(ticket_ids)

    async def _open_group(
        self,
        session: AsyncSession,
        group: list[tuple[int, InboundMessage]],
        done: list[dict[str, object]],
        failures: list[tuple[int, Exception]],
    ) -> None:
        if not group:
            return
        try:
            async with session.begin_nested():
                ticket_ids = await open_tickets(
                    self.ctx, session, [NewTicket(message) for _, message in group]
                )
        except Exception:
            # Rolled back together; one at a time finds the row that fails and records why.
            log.exception("opening %s tickets together failed; one at a time", len(group))
            for row_id, message in group:
                await self._apply_one(session, row_id, message, done, failures)
            return
        self.opened_in_bulk += len(ticket_ids)
        done.extend(
            {"row_id": row_id, "outcome": f"opened T-{ticket_id}", "ticket_id": ticket_id}
            for (row_id, _), ticket_id in zip(group, ticket_ids, strict=True)
        )

    async def _apply_one(
        self,
        session: AsyncSession,
        row_id: int,
        result: Decoded | Exception,
        done: list[dict[str, object]],
        failures: list[tuple[int, Exception]],
    ) -> None:
        try:
            async with session.begin_nested():
                outcome = await self._outcome(session, result)
        except Exception as exc:
            log.exception("inbox row %s could not be applied", row_id)
            failures.append((row_id, exc))
            return
        done.append(
            {"row_id": row_id, "outcome": outcome.text[:500], "ticket_id": outcome.ticket_id}
        )

    async def _outcome(self, session: AsyncSession, result: Decoded | Exception) -> Outcome:
        if isinstance(result, Exception):
            return Outcome(f"rejected: undecodable ({type(result).__name__}: {result})")
        if isinstance(result, Ignored):
            return Outcome(f"ignored: {result.reason}")
        if isinstance(result, InboundMessage):
            return await apply_inbound(self.ctx, session, result)
        if isinstance(result, AgentMessage):
            return await apply_agent_message(self.ctx, session, result)
        return Outcome(f"rejected: unknown decode result {type(result).__name__}")

    async def _record_failure(self, row_id: int, exc: Exception) -> None:
        async with self.db.transaction() as session:
            row = await session.get(InboxRow, row_id)
            if row is None:
                return
            row.attempts += 1
            row.outcome = f"error: {type(exc).__name__}: {exc}"[:500]
            if row.attempts >= MAX_PROCESS_ATTEMPTS:
                # Still stored and visible; we stop retrying a message that always fails.
                row.processed_at = self.ctx.now()
                log.error("inbox row %s gave up after %s attempts", row_id, row.attempts)


def _may_open(result: Decoded | Exception) -> bool:
    """Could this row open a ticket? (Decided for sure only after looking its keys up.)"""
    return (
        isinstance(result, InboundMessage)
        and result.kind is InboundKind.MESSAGE
        and not result.join_only
        and result.ticket_hint is None
    )


def _keys(result: Decoded | Exception) -> set[tuple[str, str]]:
    """Every (channel, key) a row names: its own id and the conversations it points at."""
    if isinstance(result, InboundMessage):
        keys = (result.external_id, *result.thread_keys, *result.related_keys,
                *result.bounced_keys)  # fmt: skip
    elif isinstance(result, AgentMessage):
        keys = (result.external_id, *result.thread_keys)
    else:
        return set()
    return {(result.channel, key) for key in keys if key}


def _unprocessed(ids: list[int]) -> Select[int]:
    return select(InboxRow.id).where(InboxRow.id.in_(ids), InboxRow.processed_at.is_(None))


def _mark_processed(now: datetime) -> Update:
    """executemany with row_id, outcome and ticket_id per row."""
    table = table_of(InboxRow)
    return (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(
            processed_at=now,
            outcome=bindparam("outcome"),
            ticket_id=bindparam("ticket_id"),
            attempts=table.c.attempts + 1,
        )
    )


def _known_keys_queries(
    rows: list[tuple[int, Decoded | Exception]],
) -> list[Select[str, str]]:
    """Look-ups of the ticket_refs that the rows which might open a ticket name."""
    wanted = sorted({key for _, result in rows if _may_open(result) for _, key in _keys(result)})
    return [
        select(TicketRef.channel, TicketRef.key).where(
            TicketRef.key.in_(wanted[start : start + 500])
        )
        for start in range(0, len(wanted), 500)
    ]


def _openers(rows: list[tuple[int, Decoded | Exception]], known: set[tuple[str, str]]) -> set[int]:
    """The rows that certainly open a ticket: a person's message naming no conversation we
    know, none an earlier row of this batch names, and not a duplicate."""
    openers: set[int] = set()
    earlier: set[tuple[str, str]] = set()
    for row_id, result in rows:
        keys = _keys(result)
        if _may_open(result) and not keys & (known | earlier):
            openers.add(row_id)
        earlier |= keys
    return openers

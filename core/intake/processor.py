"""The inbox processor: stored payloads decoded and applied to tickets, in arrival order."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Select, Update, bindparam, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from core import metrics
from core.channel import (
    AgentMessage,
    Channel,
    Decoded,
    Ignored,
    InboundKind,
    InboundMessage,
)
from core.context import Context
from core.intake.apply import Action, apply_agent_message, apply_inbound, open_or_join
from core.intake.decoding import Decoding
from core.intake.files import fetch_all
from core.intake.opening import NewTicket, open_tickets_now
from core.intake.outcome import Outcome
from core.intake.unreadable import open_for_a_person
from core.similar.after import match_new_tickets
from core.storage.db import Database
from core.storage.models import InboxRow, TicketRef, table_of
from core.tickets.refs import claim_conversations

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
# New tickets matched with similar ones per read (core/similar/after.py), once the inbox drains.
MATCH_CHUNK = 200


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


Row = tuple[int, Decoded | Exception]


class InboxProcessor:
    """Decodes stored payloads with their channel's pure decoder and applies them to tickets."""

    def __init__(self, db: Database, ctx: Context, channels: Mapping[str, Channel]) -> None:
        self.db = db
        self.ctx = ctx
        self.channels = channels
        self.opened_in_bulk = 0  # tickets opened together rather than one by one (for tests)
        self.decoding = Decoding(channels)
        # New tickets still to be matched with similar ones (see _match_when_drained).
        self._to_match: list[int] = []

    async def process_pending(self, limit: int = 200) -> int:
        """Process up to `limit` stored rows, and at most BATCH_BYTES of payload (but always
        one row); return how many were handled."""
        stored = await self._pending(limit)
        payloads = {row_id: (channel, payload) for row_id, channel, payload in stored}
        chunk: list[Row] = []
        weight = 0
        # Decoding is CPU work: off the event loop, and a burst in another process (see
        # core/intake/decoding.py); a part is applied while the next one is decoded.
        async with contextlib.aclosing(self.decoding.parts(stored)) as parts:
            async for decoded in parts:
                # Files named by URL are fetched now, after the platform's acknowledgement and
                # before the message is applied (a Discord link expires; a reply needs them).
                part = await fetch_all(self.channels, decoded, self.ctx.settings, self.db)
                for item in part:
                    cost = 1 if _opens_if_new(self.ctx, item[1]) else ROW_COST
                    if chunk and weight + cost > CHUNK_BUDGET:
                        await self._apply(chunk, payloads)
                        chunk, weight = [], 0
                    chunk.append(item)
                    weight += cost
        if chunk:
            await self._apply(chunk, payloads)
        if len(stored) < limit:
            await self._match_when_drained()
        return len(stored)

    async def _match_when_drained(self) -> None:
        """Match the new tickets with similar ones once the inbox is drained, not chunk by
        chunk: during a burst of alike mail the matching (a few ms a ticket) held up the next
        chunk's opening, and so every acknowledgement behind it. Suggestions can wait for the
        burst to pass; acknowledgements cannot. (Tickets opened just before a stop are not
        matched: a suggestion is lost, nothing a customer was promised.)"""
        waiting, self._to_match = self._to_match, []
        for start in range(0, len(waiting), MATCH_CHUNK):
            await match_new_tickets(self.db, self.ctx, waiting[start : start + MATCH_CHUNK])

    async def _pending(self, limit: int) -> list[tuple[int, str, bytes]]:
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
                return []
            query = (
                select(InboxRow.id, InboxRow.channel, InboxRow.payload)
                .where(InboxRow.id.in_(ids))
                .order_by(InboxRow.id)
            )
            return [(row.id, row.channel, row.payload) for row in await session.execute(query)]

    async def _apply(self, decoded: list[Row], payloads: Mapping[int, tuple[str, bytes]]) -> None:
        """Apply a chunk: the one apply path, for every channel and backend, in two steps.

        First the rows that start a new conversation are opened together, a few statements
        for all of them, as one statement-only unit of work (on SQLite one trip to the writer
        thread: through the async driver each statement is several hops through a busy event
        loop; a burst of 2,000 new conversations measured 0.58 ms of CPU a ticket that way,
        0.37 ms in one trip). Then every other row is applied in
        arrival order, each in its own savepoint, so a row that fails rolls back alone."""
        rest, new_tickets = decoded, []
        if any(_opens_if_new(self.ctx, result) for _, result in decoded):
            try:
                rest, opened = await self.db.write(
                    lambda connection: self._open_new(connection, decoded)
                )
                self.opened_in_bulk += len(opened)
                new_tickets = [ticket_id for _, ticket_id in opened]
                for row_id, ticket_id in opened:
                    _report(payloads[row_id][0], row_id, "opened", ticket_id)
            except Exception:
                # Rolled back together; one at a time finds the row that fails and records why.
                log.exception("opening new conversations together failed; one at a time")
        if rest:
            new_tickets += await self._apply_each(rest, payloads)
        # Similar tickets, after the commit, once the inbox is drained (_match_when_drained).
        self._to_match.extend(new_tickets)

    def _open_new(
        self, connection: Connection, decoded: list[Row]
    ) -> tuple[list[Row], list[tuple[int, int]]]:
        """Open a ticket for each row whose conversation is new; return the rows left, and
        (row id, ticket id) of each ticket opened."""
        # Several processors may share PostgreSQL: each row is applied by one of them.
        claim = _unprocessed([row_id for row_id, _ in decoded]).with_for_update(skip_locked=True)
        mine = set(connection.scalars(claim))
        rows = [(row_id, result) for row_id, result in decoded if row_id in mine]
        claim_conversations(connection, set().union(*(_keys(result) for _, result in rows)))
        known = _known_keys(connection, [r for r in rows if _opens_if_new(self.ctx, r[1])])
        earlier: set[tuple[str, str]] = set()
        new: list[tuple[int, InboundMessage]] = []
        rest: list[Row] = []
        for row_id, result in rows:
            keys = _keys(result)
            if _opens_if_new(self.ctx, result) and not keys & (known | earlier):
                assert isinstance(result, InboundMessage)
                new.append((row_id, result))
            else:
                rest.append((row_id, result))
            earlier |= keys
        ticket_ids = open_tickets_now(self.ctx, connection, [NewTicket(m) for _, m in new])
        opened = [(row_id, number) for (row_id, _), number in zip(new, ticket_ids, strict=True)]
        done = [
            {"row_id": row_id, "outcome": f"opened T-{ticket_id}", "ticket_id": ticket_id}
            for row_id, ticket_id in opened
        ]
        if done:
            connection.execute(_mark_processed(self.ctx.now()), done)
        return rest, opened

    async def _apply_each(
        self, decoded: list[Row], payloads: Mapping[int, tuple[str, bytes]]
    ) -> list[int]:
        """Apply rows one by one; the tickets they opened."""
        failures: list[tuple[int, Exception, Decoded | Exception]] = []
        done: list[dict[str, object]] = []
        classes: list[tuple[int, str, int | None]] = []  # told once the transaction commits

        async def work(session: AsyncSession) -> None:
            claim = _unprocessed([row_id for row_id, _ in decoded])
            mine = set(await session.scalars(claim.with_for_update(skip_locked=True)))
            rows = [(row_id, result) for row_id, result in decoded if row_id in mine]
            keys = set().union(*(_keys(result) for _, result in rows))
            connection = await session.connection()
            await connection.run_sync(lambda sync: claim_conversations(sync, keys))
            for row_id, result in rows:
                try:
                    async with session.begin_nested():
                        outcome = await self._outcome(session, row_id, result, payloads)
                except Exception as exc:
                    log.exception("inbox row %s could not be applied", row_id)
                    failures.append((row_id, exc, result))
                    continue
                done.append({"row_id": row_id, "outcome": outcome.text[:500],
                             "ticket_id": outcome.ticket_id})  # fmt: skip
                classes.append((row_id, outcome_class(result, outcome), outcome.ticket_id))
            if done:
                await connection.execute(_mark_processed(self.ctx.now()), done)

        await self.db.write(work)
        for row_id, kind, ticket_id in classes:
            _report(payloads[row_id][0], row_id, kind, ticket_id)
        for row_id, error, result in failures:
            await self._record_failure(row_id, error, payloads[row_id], result)
        return [number for _, kind, number in classes if kind == "opened" and number is not None]

    async def _outcome(
        self,
        session: AsyncSession,
        row_id: int,
        result: Decoded | Exception,
        payloads: Mapping[int, tuple[str, bytes]],
    ) -> Outcome:
        ctx = self.ctx
        if isinstance(result, Exception):
            channel, payload = payloads[row_id]
            error = f"undecodable: {type(result).__name__}: {result}"
            ticket = await open_for_a_person(
                ctx, session, channel=channel, row_id=row_id, payload=payload, error=error,
                message=None,
            )  # fmt: skip
            return Outcome(f"for a person: {ticket.ref} ({error})", ticket.id)
        if isinstance(result, Ignored):
            return Outcome(f"ignored: {result.reason}")
        if isinstance(result, InboundMessage):
            return await apply_inbound(ctx, session, result)
        if isinstance(result, AgentMessage):
            return await apply_agent_message(ctx, session, result)
        return Outcome(f"rejected: unknown decode result {type(result).__name__}")

    async def _record_failure(
        self, row_id: int, exc: Exception, stored: tuple[str, bytes], decoded: Decoded | Exception
    ) -> None:
        """Count a failed attempt; after the last one the message becomes a ticket for a
        person, so nothing that was acknowledged to its platform is ever silently lost."""
        # What the sender's details would need may be what fails: then without them.
        senders = [decoded, None] if isinstance(decoded, InboundMessage) else [None]
        for message in senders:
            try:
                give_up = functools.partial(self._give_up, row_id=row_id, exc=exc, stored=stored,
                                            message=message)  # fmt: skip
                ticket_id = await self.db.write(give_up)
                if ticket_id is not None:
                    _report(stored[0], row_id, "for_a_person", ticket_id)
                return
            except Exception:
                log.exception("inbox row %s: the ticket for a person failed too", row_id)
        raise exc

    async def _give_up(
        self,
        session: AsyncSession,
        *,
        row_id: int,
        exc: Exception,
        stored: tuple[str, bytes],
        message: InboundMessage | None,
    ) -> int | None:
        """The ticket opened for a person, once the last attempt failed."""
        row = await session.get(InboxRow, row_id)
        if row is None or row.processed_at is not None:
            return None
        row.attempts += 1
        row.outcome = f"error: {type(exc).__name__}: {exc}"[:500]
        if row.attempts < MAX_PROCESS_ATTEMPTS:
            return None
        log.error("inbox row %s gave up after %s attempts", row_id, row.attempts)
        error = f"{row.attempts} attempts failed, the last with {type(exc).__name__}: {exc}"
        ticket = await open_for_a_person(
            self.ctx, session, channel=stored[0], row_id=row_id, payload=stored[1],
            error=error, message=message,
        )  # fmt: skip
        row.processed_at = self.ctx.now()
        row.ticket_id = ticket.id
        row.outcome = f"for a person: {ticket.ref} ({error})"[:500]
        return ticket.id


def outcome_class(result: Decoded | Exception, outcome: Outcome) -> str:
    """The inbound counter's outcome for a processed row: what kind of message it was when it
    was machine mail, else what it did (a bounce or an auto-reply is never answered, whether
    or not it named one of our tickets)."""
    if isinstance(result, InboundMessage) and result.kind is InboundKind.BOUNCE:
        return "bounce"
    if isinstance(result, InboundMessage) and result.kind is not InboundKind.MESSAGE:
        return "auto_reply"
    text = outcome.text
    if text.startswith("for a person"):
        return "for_a_person"
    # A message already on a ticket (its id came back another way) changes nothing: ignored.
    if text.startswith(("ignored", "duplicate", "rejected")):
        return "ignored"
    if isinstance(result, AgentMessage):
        return "agent"
    if text.startswith("opened"):
        return "opened"
    if text.startswith("reopened"):
        return "reopened"
    return "joined"  # added to the ticket, or a thank-you recorded on it


def _report(channel: str, row_id: int, kind: str, ticket_id: int | None) -> None:
    """Count a processed row and log a ticket it opened; called after the commit."""
    metrics.inbound(channel, kind)
    if kind in ("opened", "for_a_person") and ticket_id is not None:
        log.info(
            "ticket opened",
            extra={"event": "ticket.opened", "channel": channel, "ticket": f"T-{ticket_id}",
                   "inbox_id": row_id, "outcome": kind},
        )  # fmt: skip


def _opens_if_new(ctx: Context, result: Decoded | Exception) -> bool:
    """Would this row open a ticket if its conversation is new? Asked of the one decision,
    `open_or_join`; a quoted ticket number must be looked up first, like any known key."""
    return (
        isinstance(result, InboundMessage)
        and result.kind is InboundKind.MESSAGE
        and result.ticket_hint is None
        and open_or_join(ctx, result, None) is Action.OPEN
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


def _known_keys(connection: Connection, rows: list[Row]) -> set[tuple[str, str]]:
    """The keys the rows name that already lead to a ticket."""
    wanted = sorted({key for _, result in rows for _, key in _keys(result)})
    known: set[tuple[str, str]] = set()
    for start in range(0, len(wanted), 500):
        query = select(TicketRef.channel, TicketRef.key).where(
            TicketRef.key.in_(wanted[start : start + 500])
        )
        known.update((channel, key) for channel, key in connection.execute(query))
    return known

"""The core behind every adapter: the Intake they are given, the inbox and outbox workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import metrics, people
from core.agents import authorise, refusal
from core.channel import Actor, Channel, CommandReply, Contact, RawInbound
from core.commands.run import run_words
from core.context import Context
from core.csat.press import rate_from_button
from core.delivery.worker import DeliveryWorker
from core.intake.files import names_a_ticket
from core.intake.processor import InboxProcessor
from core.intake.writer import InboxWriter
from core.similar.find import open_incident_choices
from core.storage.db import Database
from core.storage.models import ACTIVE_STATUSES, Ticket
from core.tickets.queries import list_tickets, show_ticket

log = logging.getLogger(__name__)

# How often the workers look for work when nothing woke them (new inbox rows wake the processor).
IDLE_POLL = 1.0
# How long a stop waits for the delivery worker to finish its message in hand.
STOP_GRACE = 10.0


class _Refused(Exception):
    """Carries a failed command's reply out of its transaction, rolling the transaction back."""

    def __init__(self, reply: CommandReply) -> None:
        super().__init__(reply.text)
        self.reply = reply


class Desk:
    """Implements core.channel.Intake and owns the inbox writer, processor and delivery worker,
    and their background loops: `start()` runs them, `stop()` ends them."""

    def __init__(self, db: Database, ctx: Context, channels: Mapping[str, Channel]) -> None:
        self.db = db
        self.ctx = ctx
        self.channels = channels
        self.writer = InboxWriter(db, ctx.now)
        self.processor = InboxProcessor(db, ctx, channels)
        self.delivery = DeliveryWorker(db, ctx, channels)
        self._inbox: asyncio.Task[None] | None = None
        self._sending: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Run the inbox processor and the delivery worker in the background."""
        self._stopping.clear()
        self.delivery.stopping = False
        self._inbox = asyncio.create_task(self._inbox_loop(), name="tidings-inbox")
        self._sending = asyncio.create_task(self._delivery_loop(), name="tidings-delivery")

    async def stop(self) -> None:
        """Stop the loops (if started) and the decoding helper. Delivery first finishes the
        message in hand and records what went out: cancelled mid-batch, messages already sent
        would be sent again after their lease expired."""
        self._stopping.set()
        self.delivery.stopping = True
        if self._sending is not None:
            await asyncio.wait([self._sending], timeout=STOP_GRACE)
        for task in (self._sending, self._inbox):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._inbox = self._sending = None
        self.processor.decoding.close()

    def loops(self) -> list[asyncio.Task[None]]:
        """The background loops started and not yet stopped (empty while stopping, when a
        finished loop is no failure)."""
        if self._stopping.is_set():
            return []
        return [task for task in (self._inbox, self._sending) if task is not None]

    async def step(self) -> int:
        """Process the inbox once and deliver what is due once; how many rows moved."""
        moved = await self.processor.process_pending()
        return moved + await self.delivery.deliver_due()

    async def _inbox_loop(self) -> None:
        while True:
            self.writer.stored.clear()
            try:
                handled = await self.processor.process_pending()
            except Exception:
                log.exception("inbox processing failed; retrying")
                handled = 0
            if not handled:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_POLL):  # not wait_for: see delivery/worker
                        await self.writer.stored.wait()

    async def _delivery_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sent = await self.delivery.deliver_due()
            except Exception:
                log.exception("delivery failed; retrying")
                sent = 0
            if not sent:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_POLL / 4):
                        await self._stopping.wait()

    async def receive(self, raw: RawInbound) -> bool:
        """Store a platform's payload (committed when this returns); False for a duplicate.
        Counted and logged here; a payload an adapter refuses never gets here, so `refused` is
        the adapter's to count (docs/operations.md)."""
        inbox_id = await self.writer.store(raw)
        fields = {"channel": raw.channel, "inbox_id": inbox_id, "external_id": raw.external_id}
        if inbox_id is None:
            metrics.inbound(raw.channel, "duplicate")
            log.info("message duplicate", extra={"event": "inbound.duplicate", **fields})
            return False
        metrics.inbound(raw.channel, "accepted")
        log.info("message accepted", extra={"event": "inbound.accepted", **fields})
        return True

    async def command(self, actor: Actor, text: str) -> CommandReply:
        """Run grammar words for whoever acts, if the one agent check (core.agents) allows."""
        agent = authorise(self.ctx.settings, actor.channel, actor.user_id, actor.roles)
        if agent is None:
            return CommandReply(False, refusal(actor.channel, actor.user_id))
        return await self.run_as(agent.name, text)

    async def run_as(self, agent: str, text: str) -> CommandReply:
        """Run grammar words as a named agent; roll everything back when the command fails."""

        async def work(session: AsyncSession) -> CommandReply:
            reply = await run_words(self.ctx, session, agent, text)
            if not reply.ok:
                raise _Refused(reply)
            return reply

        verb = (text.split(None, 1) or [""])[0].lower()[:32]  # the verb, never the words after it
        try:
            reply = await self.db.write(work)
        except _Refused as refused:
            reply = refused.reply
        log.info(
            "agent %s ran %s on %s: %s", agent, verb, reply.ticket_ref or "-",
            "ok" if reply.ok else "refused",
            extra={"event": "command.run", "agent": agent, "command": verb,
                   "ticket": reply.ticket_ref, "outcome": "ok" if reply.ok else "refused"},
        )  # fmt: skip
        return reply

    async def rate(self, actor: Actor, ref: str, score: int) -> CommandReply:
        """A rating button: the requester's one answer (core.csat.press); refused, nothing
        changes."""

        async def work(session: AsyncSession) -> CommandReply:
            reply = await rate_from_button(self.ctx, session, actor, ref, score)
            if not reply.ok:
                raise _Refused(reply)
            return reply

        try:
            return await self.db.write(work)
        except _Refused as refused:
            return refused.reply

    async def names_a_ticket(self, channel: str, key: str) -> bool:
        return await names_a_ticket(self.db, channel, (key,))

    async def link_verified_email(self, contact: Contact, email: str) -> bool:
        wanted = email.strip().lower()
        if "@" not in wanted:
            return False
        async with self.db.sessions() as session:
            if not await people.needs_email_link(session, contact, wanted):
                return False

        async def work(session: AsyncSession) -> bool:
            now = self.ctx.now()
            return await people.link_verified_email(session, contact, wanted, now) is not None

        linked = await self.db.write(work)
        if linked:
            log.info(
                "%s %s linked with its verified email as one person", contact.channel,
                contact.address,
                extra={"event": "person.linked", "channel": contact.channel, "by": "email"},
            )  # fmt: skip
        return linked

    async def search_tickets(self, text: str, limit: int = 25) -> list[tuple[str, str]]:
        needle = text.strip().lstrip("#").upper().removeprefix("T-")
        active = [status.value for status in ACTIVE_STATUSES]
        query = select(Ticket.id, Ticket.subject).where(Ticket.status.in_(active))
        if needle:
            conditions: list[ColumnElement[bool]] = [Ticket.subject.ilike(f"%{text.strip()}%")]
            if needle.isdigit():
                conditions.append(Ticket.id == int(needle))
            query = query.where(or_(*conditions))
        async with self.db.sessions() as session:
            rows = (await session.execute(query.order_by(Ticket.id.desc()).limit(limit))).all()
        return [(f"T-{number}", subject) for number, subject in rows]

    async def search_incidents(self, text: str, limit: int = 25) -> list[tuple[str, str]]:
        async with self.db.sessions() as session:
            return await open_incident_choices(session, text, limit)

    async def list_tickets(self, status: str | None = None) -> list[dict[str, Any]]:
        async with self.db.sessions() as session:
            return await list_tickets(session, status)

    async def show_ticket(self, number: int) -> dict[str, Any] | None:
        async with self.db.sessions() as session:
            return await show_ticket(session, number, self.ctx.settings)

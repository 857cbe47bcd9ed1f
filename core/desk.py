"""The core behind every adapter: the Intake they are given, the inbox and outbox workers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, or_, select

from core.agents import authorise, refusal
from core.channel import Actor, Channel, CommandReply, RawInbound
from core.commands.run import run_words
from core.context import Context
from core.delivery.worker import DeliveryWorker
from core.intake.processor import InboxProcessor
from core.intake.writer import InboxWriter
from core.storage.db import Database
from core.storage.models import ACTIVE_STATUSES, Ticket
from core.tickets.queries import list_tickets, show_ticket

log = logging.getLogger(__name__)


class _Refused(Exception):
    """Carries a failed command's reply out of its transaction, rolling the transaction back."""

    def __init__(self, reply: CommandReply) -> None:
        super().__init__(reply.text)
        self.reply = reply


class Desk:
    """Implements core.channel.Intake and owns the inbox writer, processor and delivery worker."""

    def __init__(self, db: Database, ctx: Context, channels: Mapping[str, Channel]) -> None:
        self.db = db
        self.ctx = ctx
        self.channels = channels
        self.writer = InboxWriter(db, ctx.now)
        self.processor = InboxProcessor(db, ctx, channels)
        self.delivery = DeliveryWorker(db, ctx, channels)

    async def receive(self, raw: RawInbound) -> bool:
        return await self.writer.put(raw)

    async def command(self, actor: Actor, text: str) -> CommandReply:
        """Run grammar words for whoever acts, if the one agent check (core.agents) allows."""
        agent = authorise(self.ctx.settings, actor.channel, actor.user_id, actor.roles)
        if agent is None:
            return CommandReply(False, refusal(actor.channel, actor.user_id))
        return await self.run_as(agent.name, text)

    async def run_as(self, agent: str, text: str) -> CommandReply:
        """Run grammar words as a named agent; roll everything back when the command fails."""
        try:
            async with self.db.transaction() as session:
                reply = await run_words(self.ctx, session, agent, text)
                if not reply.ok:
                    raise _Refused(reply)
        except _Refused as refused:
            return refused.reply
        log.info("agent %s: %s -> %s", agent, text.split(None, 2)[:2], reply.text.splitlines()[0])
        return reply

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

    async def list_tickets(self, status: str | None = None) -> list[dict[str, Any]]:
        async with self.db.sessions() as session:
            return await list_tickets(session, status)

    async def show_ticket(self, number: int) -> dict[str, Any] | None:
        async with self.db.sessions() as session:
            return await show_ticket(session, number)

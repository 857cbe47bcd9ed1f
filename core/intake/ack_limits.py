"""Limits on acknowledgements, so the desk cannot be used to mail strangers over and over."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, tuple_
from sqlalchemy.engine import Connection

from core.channel import InboundMessage
from core.storage.models import Contact, EventKind, OutboxRow, OutboxStatus

HOUR = timedelta(hours=1)
Target = tuple[str, str]  # (channel, address) an acknowledgement goes to


@dataclass
class AckLimits:
    """What one chunk of new tickets may acknowledge, read once for the whole chunk."""

    per_hour: int
    sent: Counter[Target] = field(default_factory=Counter)  # acknowledgements in the last hour
    strangers: set[Target] = field(default_factory=set)  # a Reply-To that never wrote to us

    def take(self, target: Target) -> bool:
        """Whether `target` may get one more acknowledgement now (and count it if so)."""
        if self.sent[target] >= self.per_hour:
            return False
        self.sent[target] += 1
        return True

    def may_quote(self, target: Target) -> bool:
        """Whether the acknowledgement may repeat the sender's name and subject: not to an
        address someone else named as Reply-To and that never wrote to us itself."""
        return target not in self.strangers


def read_ack_limits(
    connection: Connection, messages: Sequence[InboundMessage], now: datetime, per_hour: int
) -> AckLimits:
    """Two indexed reads for a chunk: acknowledgements each target got in the last hour, and
    which Reply-To targets are unknown to the desk."""
    limits = AckLimits(per_hour)
    targets = sorted({(m.reply_target.channel, m.reply_target.address) for m in messages})
    if not targets:
        return limits
    recent = connection.execute(
        select(OutboxRow.channel, OutboxRow.address, func.count())
        .where(
            tuple_(OutboxRow.channel, OutboxRow.address).in_(targets),
            OutboxRow.kind == EventKind.ACK.value,
            OutboxRow.created_at > now - HOUR,
            OutboxRow.status != OutboxStatus.CANCELLED.value,
        )
        .group_by(OutboxRow.channel, OutboxRow.address)
    )
    limits.sent.update({(channel, address): count for channel, address, count in recent})
    others = sorted(
        {
            (m.reply_target.channel, m.reply_target.address)
            for m in messages
            if m.reply_target.address.lower() != m.sender.address.lower()
        }
    )
    if others:
        known = connection.execute(
            select(Contact.channel, Contact.address).where(
                tuple_(Contact.channel, Contact.address).in_(others)
            )
        )
        limits.strangers = set(others) - {(channel, address) for channel, address in known}
    return limits

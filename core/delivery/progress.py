"""Messages sent in several platform calls: the parts that went out, kept on the outbox row."""

from __future__ import annotations

import json
from typing import cast

from sqlalchemy import update
from sqlalchemy.engine import Connection

from core.channel import (
    Channel,
    DeliveryError,
    OutboundMessage,
    Progress,
    ReplyTarget,
    SendResult,
    SendsInParts,
)
from core.storage.db import Database
from core.storage.models import OutboxRow, OutboxStatus


def parts_done(stored: str | None) -> tuple[str, ...]:
    """The `progress` column as read back: the parts' ids, oldest first (none when NULL)."""
    if not stored:
        return ()
    parts = json.loads(stored)
    return tuple(str(part) for part in parts) if isinstance(parts, list) else ()


def progress_of(db: Database, owner: str, row_id: int, done: tuple[str, ...]) -> Progress:
    """The Progress a channel reports to for one leased row. Each part is written before the
    next one is sent, and only while `owner` still holds the row: a worker that lost its lease
    stops part-way, and the rest is sent by the worker that holds the row now."""

    async def keep(parts: tuple[str, ...]) -> None:
        statement = (
            update(OutboxRow)
            .where(
                OutboxRow.id == row_id,
                OutboxRow.lease_owner == owner,
                OutboxRow.status == OutboxStatus.PENDING.value,
            )
            .values(progress=json.dumps(list(parts)))
        )

        def write(connection: Connection) -> int:
            return connection.execute(statement).rowcount

        if not await db.write(write):
            raise DeliveryError(f"outbox row {row_id} is no longer this worker's; stopped part-way")

    return Progress(done, keep)


# Whether a channel class sends in parts: a Protocol isinstance check costs ~20 µs, once per
# row otherwise (a noticeable part of a row's whole cost in the delivery worker).
_IN_PARTS: dict[type, bool] = {}


def sends_in_parts(channel: Channel) -> SendsInParts | None:
    """`channel` as a SendsInParts, or None when it sends every message in one call."""
    known = _IN_PARTS.get(type(channel))
    if known is None:
        known = _IN_PARTS[type(channel)] = isinstance(channel, SendsInParts)
    return cast(SendsInParts, channel) if known else None


async def send_resuming(
    channel: Channel, target: ReplyTarget, message: OutboundMessage, progress: Progress
) -> SendResult:
    """Send through `channel`, resuming after the parts already out where it sends in parts
    (a channel that sends every message in one call has nothing to resume)."""
    in_parts = sends_in_parts(channel)
    if in_parts is not None:
        return await in_parts.send_parts(target, message, progress)
    return await channel.send(target, message)

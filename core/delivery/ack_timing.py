"""The acknowledgement histogram: from a customer's message reaching the inbox to its
acknowledgement being sent, read after each delivery batch for its ack rows only."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from core import metrics
from core.delivery.rows import Claimed
from core.storage.db import Database
from core.storage.models import EventKind, InboxRow

log = logging.getLogger(__name__)


def is_ack(item: Claimed) -> bool:
    return item.kind == EventKind.ACK and item.ticket_id is not None


async def observe_acks(db: Database, acks: Sequence[tuple[Claimed, datetime]]) -> None:
    """Observe each sent ack's time since its ticket's first inbox row was received: one read
    through the inbox's ticket index for the whole batch. A failure costs the figures only."""
    if not acks:
        return
    tickets = sorted({item.ticket_id for item, _ in acks if item.ticket_id is not None})
    query = (
        select(InboxRow.ticket_id, func.min(InboxRow.received_at))
        .where(InboxRow.ticket_id.in_(tickets))
        .group_by(InboxRow.ticket_id)
    )
    try:
        async with db.sessions() as session:
            received = {ticket: at for ticket, at in await session.execute(query)}
    except (OSError, SQLAlchemyError):
        log.warning("ack timing: the inbox could not be read", exc_info=True)
        return
    for item, sent_at in acks:
        at = received.get(item.ticket_id)
        if at is not None:
            metrics.ack_sent(item.channel, (sent_at - at).total_seconds())

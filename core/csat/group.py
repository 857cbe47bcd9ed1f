"""Whom one resolution told to many tickets (an incident's) asks: `should_ask`, grouped."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from core.context import Context
from core.csat.record import NOT_AGAIN, is_robot_address
from core.storage.models import Contact, EventKind, Ticket, TicketEvent

CHUNK = 1000  # tickets per statement: well under every driver's limit on bound parameters


def askable(ctx: Context, connection: Connection, tickets: Sequence[Ticket]) -> set[int]:
    """The tickets whose resolution asks the question, as `should_ask` decides one by one:
    never asked, not logged on the spot, requester not an auto-responder."""
    if not ctx.settings.csat.enabled:
        return set()
    numbers = [ticket.id for ticket in tickets]
    skip: set[int] = set()
    for start in range(0, len(numbers), CHUNK):
        chunk = numbers[start : start + CHUNK]
        skip.update(connection.execute(
            select(TicketEvent.ticket_id).distinct().where(
                TicketEvent.ticket_id.in_(chunk),
                TicketEvent.kind.in_([*NOT_AGAIN, EventKind.AUTO_REPLY]),
            )
        ).scalars())  # fmt: skip
        rows = connection.execute(
            select(Ticket.id, Contact.address)
            .join(Contact, Contact.id == Ticket.requester_id)
            .where(Ticket.id.in_(chunk))
        )
        skip.update(number for number, address in rows if is_robot_address(address))
    return {number for number in numbers if number not in skip}

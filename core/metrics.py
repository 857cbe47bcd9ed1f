"""Prometheus metrics: counters the pipeline bumps through one-line calls, and gauges read
from the database at scrape time through indexes only (cheap with a million tickets)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.db import Database
from core.storage.models import ACTIVE_STATUSES, InboxRow, OutboxRow, OutboxStatus, Ticket

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# One registry per process for Tidings' own counters (not the library's global one, which
# would also export the process and platform collectors twice when tests build several apps).
REGISTRY = CollectorRegistry(auto_describe=True)

_INBOUND = Counter(
    "tidings_inbound_messages",
    "Inbound messages by channel and outcome (accepted, duplicate, refused, auto_reply…)",
    ["channel", "outcome"],
    registry=REGISTRY,
)
_DELIVERIES = Counter(
    "tidings_deliveries",
    "Outbox delivery attempts by channel and outcome (sent, retried, failed)",
    ["channel", "outcome"],
    registry=REGISTRY,
)
_AUTOMATIC = Counter(
    "tidings_automatic_messages",
    "Messages Tidings wrote itself, by kind (ack, status_update, apology…)",
    ["kind"],
    registry=REGISTRY,
)
_PROMISES = Counter(
    "tidings_promises_settled",
    "Promises to the customer settled, by kind (next_update, eta) and result (kept, broken)",
    ["kind", "result"],
    registry=REGISTRY,
)
_ACK_SECONDS = Histogram(
    "tidings_ack_seconds",
    "Time from receiving a customer's first message to its acknowledgement being sent",
    ["channel"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900),
    registry=REGISTRY,
)


# What an adapter turns away before anything is stored: a short fixed list, so the label stays
# bounded (a payload's own words never become a label value).
ADAPTER_OUTCOMES = frozenset(
    {
        "refused_signature",  # not signed by the platform (or replayed too late)
        "refused_not_agent",  # an agent action by someone who is not an agent
        "refused_too_large",  # over the size the adapter accepts
        "refused_rate_limited",  # too many from one sender (the ticket page's form)
        "refused_csrf",  # a form that is not from the page it is posted to
        "ignored_self",  # our own message, echoed back by the platform
        "ignored_bot",  # another bot's or a webhook's message
    }
)


def inbound(channel: str, outcome: str) -> None:
    _INBOUND.labels(channel, outcome).inc()


def turned_away(channel: str, outcome: str) -> None:
    """An adapter refused or ignored an inbound message; `outcome` is one of ADAPTER_OUTCOMES."""
    if outcome not in ADAPTER_OUTCOMES:
        raise ValueError(f"unknown adapter outcome {outcome!r}")
    _INBOUND.labels(channel, outcome).inc()


def delivery(channel: str, outcome: str) -> None:
    _DELIVERIES.labels(channel, outcome).inc()


def automatic(kind: str) -> None:
    _AUTOMATIC.labels(kind).inc()


def promise_settled(kind: str, kept: bool | None, count: int = 1) -> None:
    """A promise replaced before it fell due (kept None) is neither kept nor broken."""
    if kept is not None and count > 0:
        _PROMISES.labels(kind, "kept" if kept else "broken").inc(count)


def ack_sent(channel: str, seconds: float) -> None:
    _ACK_SECONDS.labels(channel).observe(max(seconds, 0.0))


class _Snapshot(Collector):
    """Gauges already read from the database, handed to the text exposition as they are."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


async def scrape(db: Database, now: datetime) -> bytes:
    """The whole /metrics body: the counters, then the database gauges read now."""
    try:
        async with db.sessions() as session:
            families = await _database_gauges(session, now)
        up = 1
    except (OSError, SQLAlchemyError):
        # The counters still tell what happened; the gauges would only be a guess.
        log.warning("metrics: database unreachable; serving counters only", exc_info=True)
        families, up = [], 0
    families.append(
        GaugeMetricFamily("tidings_database_up", "1 when the scrape could read the database", up)
    )
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot(families))
    return generate_latest(REGISTRY) + generate_latest(snapshot)


async def _database_gauges(session: AsyncSession, now: datetime) -> list[Metric]:
    """Each query reads one index range: active statuses, unprocessed inbox, pending or failed
    outbox rows, and the earliest owed update."""
    active = [status.value for status in ACTIVE_STATUSES]
    open_tickets = GaugeMetricFamily(
        "tidings_open_tickets",
        "Tickets the desk still owes an answer, by status",
        labels=["status"],
    )
    counts = dict(
        (await session.execute(
            select(Ticket.status, func.count()).where(Ticket.status.in_(active))
            .group_by(Ticket.status)
        )).all()
    )  # fmt: skip
    for status in active:
        open_tickets.add_metric([status], counts.get(status, 0))
    inbox = await session.scalar(
        select(func.count()).select_from(InboxRow).where(InboxRow.processed_at.is_(None))
    )
    outbox = GaugeMetricFamily(
        "tidings_outbox_backlog", "Outbox rows waiting to be sent, by channel", labels=["channel"]
    )
    pending = (await session.execute(
        select(OutboxRow.channel, func.count()).where(OutboxRow.status == OutboxStatus.PENDING)
        .group_by(OutboxRow.channel)
    )).all()  # fmt: skip
    for channel, count in pending:
        outbox.add_metric([channel], count)
    dead = await session.scalar(
        select(func.count()).select_from(OutboxRow).where(OutboxRow.status == OutboxStatus.FAILED)
    )
    earliest = await session.scalar(
        select(Ticket.next_update_due)
        .where(Ticket.next_update_due.is_not(None), Ticket.status.in_(active))
        .order_by(Ticket.next_update_due)
        .limit(1)
    )
    lag = max((now - earliest).total_seconds(), 0.0) if earliest is not None else 0.0
    return [
        open_tickets,
        GaugeMetricFamily(
            "tidings_inbox_backlog", "Inbound messages stored but not yet processed", value=inbox
        ),
        outbox,
        GaugeMetricFamily(
            "tidings_dead_letters",
            "Outbox rows that failed for good (agents were alerted)",
            value=dead or 0,
        ),
        GaugeMetricFamily(
            "tidings_promise_loop_lag_seconds",
            "How long the most overdue owed update has been due (0 when none is overdue)",
            value=lag,
        ),
    ]

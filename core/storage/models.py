"""Database tables: tickets, their timeline, the inbox, the outbox, promises and triage cards."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite has no 64-bit autoincrement type by name; BigInteger must stay INTEGER there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive text; we add the zone back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"
    RESOLVED = "resolved"
    CLOSED = "closed"


ACTIVE_STATUSES = (Status.NEW, Status.OPEN, Status.WAITING)


def is_active(status: str) -> bool:
    """New, open or waiting: the desk still owes the customer an answer."""
    return status in ACTIVE_STATUSES


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


PRIORITIES = tuple(priority.value for priority in Priority)


class Visibility(StrEnum):
    """Who may read a timeline event: the customer too, or only agents."""

    PUBLIC = "public"
    INTERNAL = "internal"


class EventKind(StrEnum):
    """What a timeline event records (the outbox row of a message carries the same kind)."""

    CUSTOMER_MESSAGE = "customer_message"
    ACK = "ack"
    AGENT_REPLY = "agent_reply"
    NOTE = "note"
    STATUS_UPDATE = "status_update"
    APOLOGY = "apology"
    ETA_SET = "eta_set"
    WAITING = "waiting"
    ASSIGNED = "assigned"
    PRIORITY_SET = "priority_set"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    NUDGE = "nudge"
    DELIVERY_FAILED = "delivery_failed"
    AUTO_REPLY = "auto_reply"
    CSAT_ASKED = "csat_asked"  # the satisfaction question went out with the resolution
    CSAT = "csat"  # the customer's rating: the score's digit(s) first, then any comment
    LOGGED = "logged"  # a call an agent solved on the spot and logged with `log`
    PERSON_LINKED = "person_linked"  # the requester was linked with another contact (`same`)


class OutboxKind(StrEnum):
    """Outbox rows for agents that are not a timeline event of their own."""

    CARD = "card"
    ETA_MISSED_AGENTS = "eta_missed_agents"
    CUSTOMER_WROTE = "customer_wrote"  # a customer's follow-up, told to the agents
    POSSIBLE_INCIDENT = "possible_incident"  # similar tickets together: a card of its own
    DIGEST = "digest"  # an agent's new-ticket notices of a period, in one mail
    # A ticket's card as sent to an agent's mailbox: once, when the ticket opens; a mail is never
    # edited, so it is not a CARD (those are edited in place and replaced by later ones).
    NEW_TICKET = "new_ticket"


class Base(DeclarativeBase):
    pass


def table_of(model: type[Base]) -> Table:
    """A mapped class's Core table, for executemany statements that skip the ORM."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_contacts_channel_address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Contacts an agent (or a verified email) showed to be one person share the id of one of
    # them, the person's canonical contact; unlinked contacts keep NULL (core/people.py).
    person_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # The promise loop's hot query: active tickets ordered by when they are owed a message.
        Index("ix_tickets_due", "next_update_due", "status"),
        Index("ix_tickets_eta", "eta", "status"),
        Index("ix_tickets_reply_target", "reply_channel", "reply_address", "reply_thread"),
        Index("ix_tickets_status", "status", "id"),
        Index("ix_tickets_requester", "requester_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16), default=Status.NEW.value)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    subject: Mapped[str] = mapped_column(String(500), default="")
    requester_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    reply_channel: Mapped[str] = mapped_column(String(32))
    reply_address: Mapped[str] = mapped_column(String(320))
    reply_thread: Mapped[str] = mapped_column(String(500), default="")
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True)
    eta: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The ETA we already apologised for missing: one apology per missed ETA.
    eta_apologized: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_update_due: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The due time agents were already nudged for, so a nudge goes out once per promise.
    nudged_for: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    waiting_on: Mapped[str] = mapped_column(String(500), default="")
    linked_ticket_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_public_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def ref(self) -> str:
        return f"T-{self.id}"


class TicketEvent(Base):
    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_events_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(32))
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    author: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(String(32), default="")
    external_id: Mapped[str] = mapped_column(String(500), default="")


class AttachmentRow(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("ticket_events.id"))
    name: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigId)
    stored_at: Mapped[str] = mapped_column(String(1000), default="")


class TicketRef(Base):
    """A key that names a ticket's conversation on one channel: message ids, thread ids."""

    __tablename__ = "ticket_refs"
    __table_args__ = (UniqueConstraint("channel", "key", name="uq_ticket_refs_channel_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(500))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)


class InboxRow(Base):
    """A raw inbound payload, stored before the platform is acknowledged."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_inbox_channel_external_id"),
        Index("ix_inbox_pending", "processed_at", "id"),
        # The ack histogram's lookup: when a ticket's first message was received.
        Index("ix_inbox_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(500))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str] = mapped_column(String(500), default="")
    ticket_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    HELD = "held"  # a new-ticket notice waiting for its agent's digest (core/delivery/digest.py)


class OutboxRow(Base):
    """A message to deliver, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The delivery worker's hot query: pending rows whose attempt time has come.
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_ticket", "ticket_id"),
        Index("ix_outbox_contact_auto", "contact_id", "automatic", "created_at"),
        # Acknowledgements sent to one address lately (the per-address limit).
        Index("ix_outbox_target", "channel", "address", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    event_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    contact_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    thread: Mapped[str] = mapped_column(String(500), default="")
    audience: Mapped[str] = mapped_column(String(16), default="customer")
    kind: Mapped[str] = mapped_column(String(32))
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    message: Mapped[str] = mapped_column(Text)  # the OutboundMessage as JSON
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str] = mapped_column(String(64), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    external_id: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A message sent in several platform calls: the parts that already went out (a JSON list
    # of their platform ids), so that a retry resumes after them (core.channel.Progress).
    progress: Mapped[str | None] = mapped_column(Text, nullable=True)


class Promise(Base):
    """Something we told the customer would happen by a time, and whether it did."""

    __tablename__ = "promises"
    __table_args__ = (Index("ix_promises_open", "ticket_id", "kind", "settled_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(16))  # "next_update" | "eta"
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kept: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    settled_by: Mapped[str] = mapped_column(String(32), default="")


class TriageCard(Base):
    """Where a ticket's card sits in a triage channel, so it can be edited and threaded."""

    __tablename__ = "triage_cards"
    __table_args__ = (UniqueConstraint("ticket_id", "channel", name="uq_cards_ticket_channel"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    external_id: Mapped[str] = mapped_column(String(500), default="")

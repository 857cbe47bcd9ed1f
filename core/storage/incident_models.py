"""Incident tables: an incident, its public timeline, and which tickets are linked to it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.models import Base, BigId, UTCDateTime


class IncidentState(StrEnum):
    """Where an incident stands, in the order it usually moves."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


INCIDENT_STATES = tuple(state.value for state in IncidentState)


class Incident(Base):
    """One problem many customers share (INC-7), with its own promise and public timeline."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_state", "state", "resolved_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default=IncidentState.INVESTIGATING.value)
    service: Mapped[str] = mapped_column(String(100), default="")
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    opened_by: Mapped[str] = mapped_column(String(100), default="")
    eta: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_update_due: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The promise loop's state for the incident's own promise (as on a ticket): which owed
    # update agents were nudged for, and which ETA the linked customers got an apology for.
    nudged_for: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    eta_apologized: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"


class IncidentUpdate(Base):
    """A public entry of the incident's timeline: what the state was and what was said."""

    __tablename__ = "incident_updates"
    __table_args__ = (Index("ix_incident_updates_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(100), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class IncidentLink(Base):
    """A ticket attached to an incident: at most one incident per ticket at a time."""

    __tablename__ = "incident_links"
    __table_args__ = (Index("ix_incident_links_incident", "incident_id", "ticket_id"),)

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    linked_by: Mapped[str] = mapped_column(String(100), default="")

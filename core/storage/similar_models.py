"""Similar-ticket tables: each ticket's words and index keys, its best matches, and the
"possible incident" suggestions made from clusters of them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.models import Base, BigId, UTCDateTime


class SimilarText(Base):
    """A ticket's distinctive words (subject first, then its first message), as compared."""

    __tablename__ = "similar_texts"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    words: Mapped[str] = mapped_column(String(400))


class SimilarKey(Base):
    """One index key of a ticket (a distinctive word); the newest tickets of a key are read
    through the primary key's order, so a lookup costs the same at any table size."""

    __tablename__ = "similar_keys"

    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)


class SimilarMatch(Base):
    """One of a new ticket's best matches: an earlier open ticket or an open incident."""

    __tablename__ = "similar_matches"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    other_ticket_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    incident_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    score: Mapped[int] = mapped_column(Integer)


class Suggestion(Base):
    """A "possible incident" (P-3): similar tickets close together; opened at most once."""

    __tablename__ = "incident_suggestions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    incident_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    opened_by: Mapped[str] = mapped_column(String(100), default="")

    @property
    def ref(self) -> str:
        return f"P-{self.id}"


class SuggestionMember(Base):
    """A ticket in a suggestion: a ticket belongs to one at most, so a cluster gets one card."""

    __tablename__ = "suggestion_members"
    __table_args__ = (Index("ix_suggestion_members_suggestion", "suggestion_id", "ticket_id"),)

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("incident_suggestions.id"))

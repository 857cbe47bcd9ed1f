"""What processing an inbox row did, recorded on the row."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """What processing an inbox row did, recorded on the row."""

    text: str
    ticket_id: int | None = None

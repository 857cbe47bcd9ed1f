"""Names the promise loop writes: promise kinds, how promises are settled, its own events."""

from __future__ import annotations

from enum import StrEnum


class PromiseKind(StrEnum):
    """What a promise row is about (the values timeline.py writes too)."""

    NEXT_UPDATE = "next_update"
    ETA = "eta"


class Settled(StrEnum):
    """How the loop settles a promise; an update's own kind settles the one it answers."""

    CAP = "cap"
    APOLOGY = "apology"
    STATUS_UPDATE = "status_update"


class LoopEvent(StrEnum):
    """Internal timeline events and agent alerts that only the loop writes."""

    CAPPED = "capped"
    ETA_MISSED = "eta_missed"
    ALERT = "alert"
    ETA_MISSED_AGENTS = "eta_missed_agents"

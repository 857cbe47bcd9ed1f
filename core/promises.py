"""The promise loop: nudges agents, sends due status updates and apologies for missed ETAs."""

from __future__ import annotations

from core.context import Context
from core.db import Database


class PromiseLoop:
    """Placeholder interface; the promise loop is being built under issue 4."""

    def __init__(self, db: Database, ctx: Context) -> None:
        self.db = db
        self.ctx = ctx

    async def tick(self) -> int:
        return 0

"""Which Discord threads outside the intake channels are tickets' conversations, remembered."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# How long "that thread is not a ticket's" is trusted. Every way a thread becomes a ticket's
# in this process (Log as ticket, a customer message sent into a thread) marks it known at
# once, so this only bounds how late a registration made elsewhere is noticed.
NOT_A_TICKET_FOR = 600.0
REMEMBERED = 50_000  # per kind of answer: a cache, so memory stays bounded however busy


class TicketThreads:
    """Answers "is this thread a ticket's conversation?" for thread messages outside the intake
    channels, asking the database at most once per thread per NOT_A_TICKET_FOR seconds.

    Messages in threads that are nobody's ticket (the everyday chatter of a server) are then
    dropped before storing, without a database read each."""

    def __init__(
        self,
        lookup: Callable[[str], Awaitable[bool]],
        *,
        forget_after: float = NOT_A_TICKET_FOR,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lookup = lookup
        self.forget_after = forget_after
        self.clock = clock
        self.known: set[str] = set()
        self._not_tickets: dict[str, float] = {}  # thread id -> when that answer goes stale
        self._asking: dict[str, asyncio.Future[bool]] = {}  # reads in flight, by thread
        self.lookups = 0  # database reads made, for tests and the benchmark

    def add(self, thread: str) -> None:
        """`thread` is (or is about to be) a ticket's conversation: keep what is written there."""
        if not thread:
            return
        if len(self.known) >= REMEMBERED:
            self.known.clear()  # forgotten threads are looked up again, never lost
        self.known.add(thread)
        self._not_tickets.pop(thread, None)

    async def holds(self, thread: str) -> bool:
        """Whether messages in `thread` belong to a ticket (so must be stored)."""
        if thread in self.known:
            return True
        stale_at = self._not_tickets.get(thread)
        if stale_at is not None and stale_at > self.clock():
            return False
        asking = self._asking.get(thread)
        if asking is None:
            # A burst in a new thread arrives all at once: its messages share one read.
            asking = asyncio.ensure_future(self._look_up(thread))
            self._asking[thread] = asking
            asking.add_done_callback(lambda _: self._asking.pop(thread, None))
        return await asyncio.shield(asking)

    async def _look_up(self, thread: str) -> bool:
        self.lookups += 1
        try:
            found = await self.lookup(thread)
        except Exception:
            # Unsure: keep the message. The core takes it only if the thread is a ticket's.
            log.warning("discord: cannot check whether thread %s is a ticket's", thread,
                        exc_info=True)  # fmt: skip
            return True
        if found:
            self.add(thread)
        else:
            if len(self._not_tickets) >= REMEMBERED:
                self._not_tickets.clear()
            self._not_tickets[thread] = self.clock() + self.forget_after
        return found

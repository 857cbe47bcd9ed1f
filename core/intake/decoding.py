"""Decoding stored payloads off the event loop: in a thread, or a burst in a helper process."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence

from core.channel import Channel, DecodesElsewhere
from core.intake.helper import START_WAIT, Decoder, Helper, Result, Row, decode_one

log = logging.getLogger(__name__)

__all__ = ["BUDGET", "BURST", "DecodeTimeout", "Decoding", "Result"]

# A batch this large goes to the helper process. A message takes ~0.5 ms to decode and ~5 us
# to unpickle, so the process pays from a few rows on; below this the round trip to it is
# not worth it, and a quiet desk never starts the process at all.
BURST = 16
# Rows per request sent to the helper: the loop applies one part while the helper decodes the
# next.
PART = 50
MAX_FAILURES = 3
# Seconds one message may take to decode in the helper. Real mail takes milliseconds (a 25 MB
# message well under a second); a message that takes longer is hostile or hits a defect, and is
# abandoned so the rows behind it go on.
BUDGET = 10.0


def _announce() -> None:
    log.info("decoding worker process ready for bursts of %d or more messages", BURST)


class DecodeTimeout(Exception):
    """A row's decode ran past the budget and was abandoned (its helper was restarted)."""


class Decoding:
    """Turns stored rows into Decoded values, in arrival order, a part at a time.

    Parsing mail is CPU work, and threads share the GIL with the event loop that runs the SMTP
    and chat intake. A burst is therefore decoded in a helper process, on another core, when
    every channel in it offers `decoder` (core.channel.DecodesElsewhere). There each row has a
    time budget: a row over it is returned as a DecodeTimeout error, the helper is replaced, and
    the rows behind it are decoded as usual.
    """

    def __init__(
        self, channels: Mapping[str, Channel], *, use_process: bool = True, budget: float = BUDGET
    ) -> None:
        self.channels = channels
        self.use_process = use_process and (multiprocessing.cpu_count() or 1) > 1
        self.budget = budget
        self._helper: Helper | None = None
        self._failures = 0
        self.parts_in_process = 0  # parts decoded in the helper process (for tests)
        self.restarts = 0  # helpers replaced after a row ran past the budget (for tests)

    async def parts(self, rows: Sequence[Row]) -> AsyncGenerator[list[Result], None]:
        decoders = self._decoders({channel for _, channel, _ in rows})
        if decoders is not None and len(rows) >= BURST and self._helper_ready(decoders):
            done = 0
            try:
                async for part in self._in_process(decoders, rows):
                    done += len(part)
                    yield part
                return
            except Exception:
                # A broken or killed helper: decode the rest here, and start afresh next burst.
                log.exception("decoding in the helper process failed; decoding in a thread")
                self._failed()
                rows = rows[done:]
        if rows:
            yield await asyncio.to_thread(self._here, rows)

    def _decoders(self, names: set[str]) -> dict[str, Decoder] | None:
        if not self.use_process:
            return None
        found: dict[str, Decoder] = {}
        for name in names:
            channel = self.channels[name]
            if not isinstance(channel, DecodesElsewhere):
                return None
            found[name] = channel.decoder
        return found

    def _helper_ready(self, decoders: dict[str, Decoder]) -> bool:
        """Whether the helper is up; the first burst starts it and is decoded in the thread,
        so nobody waits the half second a new Python process takes to import the decoders."""
        if self._helper is None:
            self._helper = Helper(decoders, _announce)
        try:
            if not self._helper.is_ready():
                if not self._helper.process.is_alive():
                    raise RuntimeError(f"exit code {self._helper.process.exitcode}")
                return False
        except Exception as exc:
            log.error("the decoding helper did not start: %r", exc)
            self._failed()
            return False
        return True

    def _failed(self) -> None:
        """Start afresh next burst; after a few failures, keep to the thread for good."""
        self.close()
        self._failures += 1
        if self._failures >= MAX_FAILURES:
            log.error("decoding stays in a thread from now on")
            self.use_process = False

    async def _in_process(
        self, decoders: dict[str, Decoder], rows: Sequence[Row]
    ) -> AsyncIterator[list[Result]]:
        assert self._helper is not None  # started by _helper_ready
        helper = self._helper
        position, in_flight = 0, False
        try:
            await asyncio.to_thread(helper.send, rows[:PART])
            in_flight = True
            while position < len(rows):
                part = rows[position : position + PART]
                following = rows[position + len(part) : position + len(part) + PART]
                results, late = await asyncio.to_thread(self._exchange, helper, part, following)
                in_flight = bool(following) and not late
                position += len(results)
                if results:
                    self.parts_in_process += 1
                    yield results
                if late:
                    yield [self._abandon(rows[position])]
                    position += 1
                    helper = await self._restart(decoders)
                    if position < len(rows):
                        await asyncio.to_thread(helper.send, rows[position : position + PART])
                        in_flight = True
        finally:
            if in_flight and position < len(rows):
                # The caller stopped early: the helper still owes answers nobody will read.
                self.close()

    def _exchange(
        self, helper: Helper, part: Sequence[Row], following: Sequence[Row]
    ) -> tuple[list[Result], bool]:
        """In a thread: the results of `part`, then `following` sent at once so the helper
        decodes it while the loop applies these."""
        results, late = helper.receive(part, self.budget)
        if following and not late:
            helper.send(following)
        return results, late

    def _abandon(self, row: Row) -> Result:
        row_id, channel, payload = row
        log.error(
            "inbox row %d (%s, %d bytes) took longer than %g s to decode; abandoned, and the "
            "decoding helper restarted",
            row_id, channel, len(payload), self.budget,
        )  # fmt: skip
        return row_id, DecodeTimeout(
            f"decoding took longer than {self.budget:g} s and was abandoned"
        )

    async def _restart(self, decoders: dict[str, Decoder]) -> Helper:
        self.close()
        self.restarts += 1
        helper = self._helper = Helper(decoders)
        if not await asyncio.to_thread(helper.is_ready, START_WAIT):
            raise RuntimeError("the decoding helper did not start again")
        return helper

    def _here(self, rows: Sequence[Row]) -> list[Result]:
        return [
            decode_one(self.channels[channel].decode, row_id, payload)
            for row_id, channel, payload in rows
        ]

    def close(self) -> None:
        if self._helper is not None:
            self._helper.stop()
            self._helper = None

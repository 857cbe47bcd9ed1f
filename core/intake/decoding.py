"""Decoding stored payloads off the event loop: in a thread, or a burst in a worker process."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from core.channel import Channel, Decoded

log = logging.getLogger(__name__)

Decoder = Callable[[bytes], Decoded]
Result = tuple[int, Decoded | Exception]

# A batch this large goes to the worker process. A message takes ~0.5 ms to decode and ~5 us
# to unpickle, so the process pays from a few rows on; below this the round trip to it is
# not worth it, and a quiet desk never starts the process at all.
BURST = 16
# Rows per task sent to the worker: the loop applies one part while the worker decodes the next.
PART = 50
MAX_FAILURES = 3


def decode_one(decode: Decoder, row_id: int, payload: bytes) -> Result:
    try:
        return row_id, decode(payload)
    except Exception as exc:  # decode must not raise; if it does, the row records why
        return row_id, exc


def _decode_part(
    decoders: Mapping[str, Decoder], rows: Sequence[tuple[int, str, bytes]]
) -> list[Result]:
    """Runs in the worker process."""
    return [decode_one(decoders[channel], row_id, payload) for row_id, channel, payload in rows]


def _report_start(warming: Future[list[Result]]) -> None:
    if not warming.cancelled() and warming.exception() is None:
        log.info("decoding worker process ready for bursts of %d or more messages", BURST)


class Decoding:
    """Turns stored rows into Decoded values, in arrival order, a part at a time.

    Parsing mail is CPU work, and threads share the GIL with the event loop that runs the SMTP
    and chat intake. A burst is therefore decoded in a worker process, on another core, when
    every channel in it offers `decoder`: a picklable function equal to its `decode`.
    """

    def __init__(self, channels: Mapping[str, Channel], *, use_process: bool = True) -> None:
        self.channels = channels
        self.use_process = use_process and (multiprocessing.cpu_count() or 1) > 1
        self._pool: ProcessPoolExecutor | None = None
        self._warming: Future[list[Result]] = Future()
        self._failures = 0
        self.parts_in_process = 0  # parts decoded in the worker process (for tests)

    async def parts(
        self, rows: Sequence[tuple[int, str, bytes]]
    ) -> AsyncGenerator[list[Result], None]:
        decoders = self._decoders({channel for _, channel, _ in rows})
        if decoders is not None and len(rows) >= BURST and self._pool_ready(decoders):
            done = 0
            try:
                async for part in self._in_process(decoders, rows):
                    done += len(part)
                    yield part
                return
            except Exception:
                # A broken or killed worker: decode the rest here, and start afresh next burst.
                log.exception("decoding in the worker process failed; decoding in a thread")
                self._failed()
                rows = rows[done:]
        if rows:
            yield await asyncio.to_thread(self._here, rows)

    def _decoders(self, names: set[str]) -> dict[str, Decoder] | None:
        if not self.use_process:
            return None
        found = {name: getattr(self.channels[name], "decoder", None) for name in names}
        if any(decoder is None for decoder in found.values()):
            return None
        return {name: decoder for name, decoder in found.items() if decoder is not None}

    def _pool_ready(self, decoders: dict[str, Decoder]) -> bool:
        """Whether the worker is up; the first burst starts it and is decoded in the thread,
        so nobody waits the half second a new Python process takes to import the decoders."""
        if self._pool is None:
            # spawn, not fork: the parent has threads (database writer, DNS), which fork copies
            # in whatever state they are.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(1, mp_context=context)
            self._warming = self._pool.submit(_decode_part, decoders, [])
            self._warming.add_done_callback(_report_start)
        if not self._warming.done():
            return False
        failure = self._warming.exception()
        if failure is not None:
            log.error("the decoding worker did not start: %r", failure)
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
        self, decoders: dict[str, Decoder], rows: Sequence[tuple[int, str, bytes]]
    ) -> AsyncIterator[list[Result]]:
        assert self._pool is not None  # started by _pool_ready
        pool = self._pool
        pending: list[Future[list[Result]]] = [
            pool.submit(_decode_part, decoders, rows[start : start + PART])
            for start in range(0, len(rows), PART)
        ]
        # Parts not waited for (the caller stopped early) are left to finish and are dropped:
        # cancelling them races with the pool marking them failed when a worker dies, which
        # Python 3.11's executor reports as an error in its own thread.
        for future in pending:
            part = await asyncio.wrap_future(future)
            self.parts_in_process += 1
            yield part

    def _here(self, rows: Sequence[tuple[int, str, bytes]]) -> list[Result]:
        return [
            decode_one(self.channels[channel].decode, row_id, payload)
            for row_id, channel, payload in rows
        ]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)  # at most one batch of queued parts still runs
            self._pool = None

"""The decoding helper process: decodes rows sent over a pipe, and ends when its parent does."""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection

from core.channel import Decoded

log = logging.getLogger(__name__)

Decoder = Callable[[bytes], Decoded]
Result = tuple[int, Decoded | Exception]
Row = tuple[int, str, bytes]

READY = "ready"
START_WAIT = 60.0  # seconds a new helper may take to import the decoders and say it is ready
PARENT_CHECK = 1.0  # seconds between looks at whether the parent process is still there
STOP_WAIT = 5.0  # seconds a stop waits for a helper still starting, so it is not cut mid-import
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def decode_one(decode: Decoder, row_id: int, payload: bytes) -> Result:
    try:
        return row_id, decode(payload)
    except Exception as exc:  # decode must not raise; if it does, the row records why
        return row_id, exc


def serve(connection: Connection, decoders: Mapping[str, Decoder], parent: int) -> None:
    """The helper's main loop: decode each row received, send back one result per row.

    A thread reads requests as they come, so the parent's writes never wait on a decode, and
    notices the pipe closing; another watches the parent's pid. Either way, once the parent is
    gone the helper exits at once, even in the middle of a decode (nobody is left to use it).
    """
    _die_with_parent(parent)
    requests: queue.SimpleQueue[Sequence[Row]] = queue.SimpleQueue()
    threading.Thread(target=_read, args=(connection, requests), daemon=True).start()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    connection.send(READY)
    while True:
        for row_id, channel, payload in requests.get():
            _send(connection, decode_one(decoders[channel], row_id, payload))


def _die_with_parent(parent: int) -> None:
    """On Linux, have the kernel kill this process when its parent dies.

    The threads below cannot run while the main thread is inside one long call into the
    regex engine (it holds the interpreter lock), which is exactly when a helper gets stuck;
    the kernel's signal needs no thread of ours."""
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # the watcher threads still notice, between decodes
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


def _read(connection: Connection, requests: queue.SimpleQueue[Sequence[Row]]) -> None:
    try:
        while True:
            requests.put(connection.recv())
    except (EOFError, OSError):
        pass
    os._exit(0)  # the parent closed the pipe or died


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK)
    os._exit(0)


def _send(connection: Connection, result: Result) -> None:
    try:
        connection.send(result)
    except Exception as exc:  # a result that does not pickle still answers for its row
        connection.send((result[0], RuntimeError(f"decoded result cannot be sent back: {exc!r}")))


class Helper:
    """One helper process, seen from the parent: start it, send rows, take results in order."""

    def __init__(
        self, decoders: Mapping[str, Decoder], on_ready: Callable[[], None] = lambda: None
    ) -> None:
        # spawn, not fork: the parent has threads (database writer, DNS), which fork copies
        # in whatever state they are.
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=serve,
            args=(child, dict(decoders), os.getpid()),
            name="tidings-decoding",
            daemon=True,
        )
        self.process.start()
        child.close()  # the helper's end lives in the helper only, so its death closes the pipe
        self._ready = threading.Event()
        self._on_ready = on_ready
        waiting = threading.Thread(target=self._await_ready, name="decoding-start", daemon=True)
        waiting.start()

    def _await_ready(self) -> None:
        try:
            if self.connection.poll(START_WAIT) and self.connection.recv() == READY:
                self._ready.set()
                self._on_ready()
        except (EOFError, OSError):
            pass  # died while starting: the next burst sees it is not alive

    def is_ready(self, wait: float = 0.0) -> bool:
        """Whether the helper has imported the decoders and said so (blocks up to `wait`)."""
        return self._ready.wait(wait)

    def send(self, rows: Sequence[Row]) -> None:
        self.connection.send(list(rows))

    def receive(self, rows: Sequence[Row], budget: float) -> tuple[list[Result], bool]:
        """Results for `rows`, in order; (those received, True) when the next one took longer
        than `budget` seconds. Raises EOFError/OSError when the helper died."""
        results: list[Result] = []
        for row_id, _, _ in rows:
            if not self.connection.poll(budget):
                return results, True
            result: Result = self.connection.recv()
            if result[0] != row_id:
                raise RuntimeError(f"decoding helper answered row {result[0]}, not {row_id}")
            results.append(result)
        return results, False

    def stop(self) -> None:
        """End the helper now, whatever it is doing (if it is still starting, once started)."""
        if self.process.is_alive():
            self._ready.wait(STOP_WAIT)
        self.connection.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(2)

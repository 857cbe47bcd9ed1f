"""A burst of mail is decoded in a worker process, in order, and a dead worker loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

from channels.email import EmailChannel
from channels.email.envelope import Envelope, frame
from core.channel import InboundMessage
from core.intake.decoding import BURST, Decoding, Result
from tests.test_email_server import email_settings


def _mail(n: int) -> bytes:
    message = (
        f"From: Customer {n} <customer{n}@example.org>\r\nTo: support@acme.test\r\n"
        f"Subject: Printer {n} is jammed\r\nMessage-ID: <burst-{n}@example.org>\r\n\r\n"
        f"Hello, printer {n} on the second floor is jammed again.\r\n"
    ).encode()
    envelope = Envelope(f"customer{n}@example.org", ("support@acme.test",), datetime.now(UTC))
    return frame(envelope, message)


async def _decode_all(decoding: Decoding, rows: list[tuple[int, str, bytes]]) -> list[Result]:
    results: list[Result] = []
    async for part in decoding.parts(rows):
        results.extend(part)
    return results


async def _until_the_worker_decodes(decoding: Decoding, rows: list[tuple[int, str, bytes]]) -> None:
    """The first burst starts the worker (and is decoded in the thread); wait until it is up."""
    for _ in range(300):
        await _decode_all(decoding, rows)
        if decoding.parts_in_process:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the decoding worker never started")


async def test_a_burst_is_decoded_in_the_worker_in_arrival_order(tmp_path: Path) -> None:
    channel = EmailChannel(email_settings(tmp_path))
    decoding = Decoding({"email": channel})
    rows = [(n, "email", _mail(n)) for n in range(BURST + 70)]
    try:
        first = await _decode_all(decoding, rows)
        assert decoding.parts_in_process == 0  # decoded here while the worker starts
        await _until_the_worker_decodes(decoding, rows)
        in_worker = await _decode_all(decoding, rows)
    finally:
        decoding.close()
    assert [row_id for row_id, _ in in_worker] == list(range(len(rows)))
    assert in_worker == first  # the same InboundMessages, field by field
    subject = in_worker[5][1]
    assert isinstance(subject, InboundMessage) and subject.subject == "Printer 5 is jammed"
    # A quiet moment (a few rows) never goes to the worker.
    before = decoding.parts_in_process
    assert len(await _decode_all(decoding, rows[:3])) == 3
    assert decoding.parts_in_process == before


async def test_a_killed_worker_hands_the_burst_back_to_the_thread(tmp_path: Path) -> None:
    channel = EmailChannel(email_settings(tmp_path))
    decoding = Decoding({"email": channel})
    rows = [(n, "email", _mail(n)) for n in range(BURST + 70)]
    try:
        await _until_the_worker_decodes(decoding, rows)
        helper = decoding._helper
        assert helper is not None and helper.process.pid is not None
        os.kill(helper.process.pid, signal.SIGKILL)  # the worker dies, as under the OOM killer
        results = await _decode_all(decoding, rows)
    finally:
        decoding.close()
    assert [row_id for row_id, _ in results] == list(range(len(rows)))
    assert all(isinstance(result, InboundMessage) for _, result in results)
    assert decoding._helper is None  # the next burst starts a new worker

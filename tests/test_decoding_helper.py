"""The decoding helper: a row that never finishes is abandoned, and the helper dies with its app.

Both use real processes: a helper spawned as in production, and (for the parent's death) a
separate Python process that starts a helper and is then killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.channel import (
    Contact,
    Decoded,
    DecodesElsewhere,
    InboundMessage,
    Intake,
    OutboundMessage,
    ReplyTarget,
    SendResult,
)
from core.intake.decoding import BURST, DecodeTimeout, Decoding, Result

ROOT = Path(__file__).resolve().parents[1]
POISON = b"poison"


def decode_or_hang(payload: bytes) -> Decoded:
    """A decoder with a defect: one payload sends it into a regex that backtracks for good,
    inside the regex engine, holding the interpreter lock as the reported mail did."""
    if payload == POISON:
        re.match(r"(a|aa)+$", "a" * 200 + "b")
    text = payload.decode()
    return InboundMessage("stub", text, Contact("stub", "ann"), ReplyTarget("stub", "ann"), text)


class StubChannel:
    """Only the decoding half of a channel."""

    name = "stub"

    async def start(self, on_message: Intake) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, target: ReplyTarget, message: OutboundMessage) -> SendResult:
        return SendResult()

    def decode(self, payload: bytes) -> Decoded:
        return decode_or_hang(payload)

    def problem(self) -> str | None:
        return None

    @property
    def decoder(self) -> Callable[[bytes], Decoded]:
        return decode_or_hang


def _rows(texts: list[bytes]) -> list[tuple[int, str, bytes]]:
    return [(n, "stub", text) for n, text in enumerate(texts)]


async def _decode_all(decoding: Decoding, rows: list[tuple[int, str, bytes]]) -> list[Result]:
    results: list[Result] = []
    async for part in decoding.parts(rows):
        results.extend(part)
    return results


async def _warm(decoding: Decoding) -> None:
    rows = _rows([f"warm {n}".encode() for n in range(BURST)])
    for _ in range(300):
        await _decode_all(decoding, rows)
        if decoding.parts_in_process:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the decoding helper never started")


@pytest.mark.timeout(120, method="thread")
async def test_a_row_that_never_decodes_is_abandoned_and_the_rows_behind_it_go_on() -> None:
    assert isinstance(StubChannel(), DecodesElsewhere)
    decoding = Decoding({"stub": StubChannel()}, budget=1.0)
    texts = [f"message {n}".encode() for n in range(120)]
    texts[60] = POISON
    try:
        await _warm(decoding)
        assert decoding._helper is not None
        first_helper = decoding._helper.process.pid
        results = await _decode_all(decoding, _rows(texts))
        assert decoding._helper is not None
        second_helper = decoding._helper.process.pid
        again = await _decode_all(decoding, _rows([b"after"] * BURST))
    finally:
        decoding.close()
    assert [row_id for row_id, _ in results] == list(range(120))
    stuck = results[60][1]
    assert isinstance(stuck, DecodeTimeout)
    assert "longer than 1 s" in str(stuck)
    for row_id, result in results[:60] + results[61:]:
        assert isinstance(result, InboundMessage) and result.text == f"message {row_id}"
    assert decoding.restarts == 1 and second_helper != first_helper
    assert all(isinstance(result, InboundMessage) for _, result in again)


_PARENT = """
import asyncio, sys, time
sys.path.insert(0, {root!r})
from core.intake.decoding import BURST, Decoding
from tests.test_decoding_helper import POISON, StubChannel, _decode_all, _rows, _warm

async def main():
    decoding = Decoding({{"stub": StubChannel()}}, budget=600)
    await _warm(decoding)
    if {stuck!r}:
        asyncio.ensure_future(_decode_all(decoding, _rows([POISON] * BURST)))
        await asyncio.sleep(1)
    print("helper up", flush=True)
    time.sleep(600)

if __name__ == "__main__":
    asyncio.run(main())
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its exit status waits to be read


@pytest.mark.timeout(120, method="thread")
@pytest.mark.parametrize("stuck", [False, True], ids=["idle", "stuck-in-a-decode"])
def test_the_helper_and_its_resource_tracker_exit_when_the_app_is_killed(
    tmp_path: Path, stuck: bool
) -> None:
    script = tmp_path / "app.py"
    script.write_text(_PARENT.format(root=str(ROOT), stuck=stuck))
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == b"helper up"
        helpers = _children(parent.pid)
        assert helpers, "the decoding helper (and its resource tracker) run under the app"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in helpers) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [pid for pid in helpers if _alive(pid)]
    finally:
        parent.kill()
    for pid in left:  # do not leave them behind for the next test, even when this one fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running 20 s after the app was killed: {left}"


async def test_a_channel_without_a_decoder_is_decoded_in_the_thread() -> None:
    from tests.fake_channel import FakeChannel

    fake = FakeChannel()
    assert not isinstance(fake, DecodesElsewhere)
    decoding = Decoding({"fake": fake})
    try:
        rows = [(n, "fake", b"{}") for n in range(BURST * 2)]
        for _ in range(3):
            assert len(await _decode_all(decoding, rows)) == len(rows)
    finally:
        decoding.close()
    assert decoding._helper is None and decoding.parts_in_process == 0

"""A message that goes out in several platform calls never repeats a part the customer saw:
a Slack reply and then its files, a long Discord reply in parts. A failure part-way, or a
worker that dies part-way, leaves the rest (only the rest) to the retry."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from core.channel import DeliveryError
from core.clock import FakeClock
from core.delivery.progress import progress_of
from core.delivery.worker import LEASE, DeliveryWorker
from tests.fake_discord_harness import settle
from tests.fake_slack_payloads import envelope, file_share, message
from tests.fake_slack_world import HELP, TRIAGE, SlackWorld, slack_section, slack_world
from tests.test_discord_app import Desk
from tests.test_files_discord import discord_desk

ROOT = Path(__file__).resolve().parent.parent
ALICE = "UALICE"  # an agent on Slack (tests/conftest.py)
INVOICE = b"%PDF-1.4\n" + b"corrected invoice 1042\n" * 40
# Three parts on Discord (2,000 characters each at most), each line numbered.
STEPS = "\n".join(f"{n:02d}. Open Settings, then Network, then VPN. Then Reset, and Retry."
                  for n in range(80))  # fmt: skip
RETRY = timedelta(minutes=1)  # past the first backoff (5 s at most)


@pytest.fixture
async def world(settings_factory: Any, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock) as running:
        yield running


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Desk]:
    async with discord_desk(settings_factory, clock) as opened:
        yield opened


async def dies_in_flight(app: App, arrived: asyncio.Event) -> None:
    """The delivery worker sends until the stalled call is in flight, then dies there: it
    records nothing more (its process is gone), and its lease on the row runs on."""
    sending = asyncio.create_task(app.desk.delivery.deliver_due())
    waiting = asyncio.create_task(arrived.wait())
    await asyncio.wait({sending, waiting}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    assert arrived.is_set(), "the stalled call never came"
    sending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sending


async def another_worker_takes_over(app: App, clock: FakeClock) -> None:
    """A worker in another process claims the row once the dead one's lease ran out."""
    clock.advance(LEASE + timedelta(seconds=1))
    dead = app.desk.delivery
    assert await DeliveryWorker(app.db, dead.ctx, dead.channels).deliver_due() >= 1


# -- Slack: the text, then the files in the same thread ---------------------------------------


async def agent_sends_the_invoice(world: SlackWorld, *, deliver: bool = True) -> str:
    """Carol reports in the intake channel; Alice answers in the card thread with a file.
    Returns the ts of Carol's message: her thread."""
    said = message("UCAROL", HELP, "Invoice 1042 is wrong")
    await world.post(envelope(said))
    await world.drain()
    [card] = world.slack.cards(TRIAGE)
    invoice = world.slack.host_file("invoice-1042.pdf", INVOICE, "application/pdf")
    reply = file_share(ALICE, TRIAGE, "Here is the corrected invoice", files=[invoice],
                       thread_ts=card)  # fmt: skip
    await world.post(envelope(reply))
    if deliver:
        await world.drain()
    else:
        await world.app.desk.processor.process_pending()
    return str(said["ts"])


def carol_saw(world: SlackWorld, thread: str) -> list[tuple[str, str]]:
    """What reached Carol's thread after the acknowledgement, in order: ("text", first line)
    for each message, then ("file", name) for each file shared."""
    seen: list[tuple[str, str]] = []
    for call in world.slack.calls:
        if call.answer.get("ok") and call.args.get("thread_ts") == thread:
            if call.method == "chat.postMessage" and call.args.get("channel") == HELP:
                seen.append(("text", str(call.args["text"]).splitlines()[0]))
    uploads = [("file", str(u["name"])) for u in world.slack.uploads if u["thread_ts"] == thread]
    return seen[1:] + uploads


async def test_a_failed_upload_is_retried_without_posting_the_text_again(
    world: SlackWorld, clock: FakeClock
) -> None:
    world.slack.fail("files.completeUploadExternal", error="internal_error")
    thread = await agent_sends_the_invoice(world)
    assert carol_saw(world, thread) == [("text", "Here is the corrected invoice")]

    clock.advance(RETRY)
    await world.drain()
    assert carol_saw(world, thread) == [
        ("text", "Here is the corrected invoice"),
        ("file", "invoice-1042.pdf"),
    ]
    [upload] = world.slack.uploads
    assert upload["data"] == INVOICE and upload["channel"] == HELP


async def test_a_process_killed_during_the_upload_leaves_only_the_files_to_the_next(
    world: SlackWorld, clock: FakeClock, database_url: str, tmp_path: Path
) -> None:
    arrived = world.slack.stall("files.getUploadURLExternal")
    thread = await agent_sends_the_invoice(world, deliver=False)
    # Another process sends the reply: the text goes, then it dies (SIGKILL) in the upload.
    sender = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.crash_sender", database_url, str(tmp_path),
        json.dumps(slack_section(world.slack)), clock.now().isoformat(),
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await asyncio.wait_for(arrived.wait(), 60)
    finally:
        sender.kill()
        _, said = await asyncio.wait_for(sender.communicate(), 10)
    assert sender.returncode == -signal.SIGKILL, said.decode()
    assert carol_saw(world, thread) == [("text", "Here is the corrected invoice")]

    await world.drain()
    assert carol_saw(world, thread) == [("text", "Here is the corrected invoice")]  # leased
    clock.advance(LEASE + timedelta(seconds=1))
    await world.drain()
    assert carol_saw(world, thread) == [
        ("text", "Here is the corrected invoice"),
        ("file", "invoice-1042.pdf"),
    ]


# -- Discord: a long reply in parts -------------------------------------------------------------


async def alice_reports(desk: Desk) -> str:
    """Alice reports by DM and is acknowledged there; returns her DM channel's id."""
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()
    return str(desk.fake.dm_channel(desk.alice)["id"])


async def bob_replies(desk: Desk) -> None:
    """Bob answers with STEPS by command: the reply is queued, not yet sent."""
    triage = desk.fake.guild.channels["triage"]
    await desk.fake.slash(desk.bob, "reply", channel_id=triage, ticket="T-1", text=STEPS)
    await settle(desk.fake, desk.bot)


def alice_read(desk: Desk) -> list[str]:
    """Bob's reply as Alice has it in her DMs: its parts, in order (the ack before is left)."""
    return desk.dm(desk.alice)[1:]


def assert_once_in_order(parts: list[str]) -> None:
    """Bob's reply, every line of it once and in order, then his signature."""
    whole = "\n".join(parts)
    assert whole.startswith(STEPS + "\n")
    assert whole.count("Open Settings") == STEPS.count("Open Settings")


async def test_a_long_reply_whose_second_part_failed_sends_the_rest_once(
    desk: Desk, clock: FakeClock
) -> None:
    dm = await alice_reports(desk)
    trouble = {"message": "upstream overloaded", "code": 0}
    desk.fake.fail_next("POST", rf"/channels/{dm}/messages$", 503, trouble, skip=1)
    await bob_replies(desk)
    await desk.settle()
    [first] = alice_read(desk)
    assert first.startswith("00. Open Settings")

    clock.advance(RETRY)
    await desk.settle()
    parts = alice_read(desk)
    assert len(parts) == 3 and all(len(part) <= 2000 for part in parts)
    assert_once_in_order(parts)


async def test_a_worker_that_dies_between_parts_leaves_only_the_rest_to_the_next(
    desk: Desk, clock: FakeClock
) -> None:
    dm = await alice_reports(desk)
    arrived = desk.fake.stall_next("POST", rf"/channels/{dm}/messages$", skip=1)
    await bob_replies(desk)
    await dies_in_flight(desk.app, arrived)
    [first] = alice_read(desk)

    await another_worker_takes_over(desk.app, clock)
    await desk.settle()
    parts = alice_read(desk)
    assert parts[0] == first and len(parts) == 3
    assert_once_in_order(parts)


# -- the row: parts are kept only by the worker that holds it ------------------------------------


async def test_parts_are_kept_only_by_the_worker_holding_the_row_and_read_back_by_the_next(
    desk_app: Any, clock: FakeClock
) -> None:
    await desk_app.fake.say("carol", "Disk is full", message_id="m1")
    await desk_app.desk.processor.process_pending()
    ctx, channels = desk_app.ctx, desk_app.desk.delivery.channels
    first, second, third = (DeliveryWorker(desk_app.db, ctx, channels) for _ in range(3))
    [mine] = await first.claim()
    clock.advance(LEASE + timedelta(seconds=1))
    [taken] = await second.claim()  # the first worker's lease ran out: the row is the second's
    assert taken.id == mine.id and taken.progress == ()

    late = progress_of(desk_app.db, first.owner, mine.id, ())
    with pytest.raises(DeliveryError, match="no longer this worker's"):
        await late.went_out("part-1")
    holder = progress_of(desk_app.db, second.owner, taken.id, ())
    await holder.went_out("part-1")
    await holder.went_out("part-2")

    clock.advance(LEASE + timedelta(seconds=1))
    [resumed] = await third.claim()
    assert resumed.id == mine.id and resumed.progress == ("part-1", "part-2")

"""The one JSON log line per happening, as an operator reads it while the desk works: a
message accepted, a ticket opened, what was sent, the promise loop's actions; ids only, never
what the customer or the agent wrote."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from core.clock import FakeClock
from core.config import LogConfig
from core.logs import configure_logging

SECRET_WORDS = ("Zanzibar", "quartermaster", "hunter2")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging(LogConfig(level="info", format="json"), out)
    yield out
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _events(out: io.StringIO, event: str) -> list[dict[str, Any]]:
    return [line for line in _lines(out) if line["event"] == event]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


async def test_a_customer_message_is_accepted_opened_and_acknowledged(
    desk_app: Any, json_log: io.StringIO
) -> None:
    fake = desk_app.fake
    await fake.say("carol", "Zanzibar invoices: my password hunter2 fails", message_id="m1")
    await fake.say("carol", "Zanzibar invoices: my password hunter2 fails", message_id="m1")
    await desk_app.drain()

    [accepted] = _events(json_log, "inbound.accepted")
    assert accepted["message"] == "message accepted" and accepted["level"] == "info"
    assert accepted["channel"] == "fake" and accepted["external_id"] == "m1"
    assert isinstance(accepted["inbox_id"], int)
    [duplicate] = _events(json_log, "inbound.duplicate")
    assert duplicate["external_id"] == "m1" and "inbox_id" not in duplicate
    [opened] = _events(json_log, "ticket.opened")
    assert opened["ticket"] == "T-1" and opened["channel"] == "fake"
    assert opened["inbox_id"] == accepted["inbox_id"]
    [sent] = _events(json_log, "delivery.sent")
    assert sent["kind"] == "ack" and sent["channel"] == "fake"
    assert not any(word in json_log.getvalue() for word in SECRET_WORDS)


async def test_the_promise_loop_logs_each_action_with_its_due_time(
    desk_app: Any, clock: FakeClock, json_log: io.StringIO
) -> None:
    fake = desk_app.fake
    clock.set(at(23, 9))
    await fake.say("dan", "quartermaster VPN drops every few minutes", message_id="m1")
    await desk_app.drain()  # the ack promises an update by Tue 24 Nov, 09:00
    clock.set(at(24, 8, 45))
    await desk_app.drain()
    [nudge] = _events(json_log, "promise.nudge")
    assert nudge["ticket"] == "T-1" and nudge["kind"] == "next_update"
    assert nudge["due"] == "2026-11-24T09:00:00+00:00"

    clock.set(at(24, 9))
    await desk_app.drain()
    [update] = _events(json_log, "promise.status_update")
    assert update["ticket"] == "T-1" and update["due"] == "2026-11-24T09:00:00+00:00"

    assert (await desk_app.desk.run_as("alice", "eta T-1 2026-11-24 12:00")).ok
    clock.set(at(24, 12, 5))
    await desk_app.drain()
    [apology] = _events(json_log, "promise.apology")
    assert apology["kind"] == "eta" and apology["due"] == "2026-11-24T12:00:00+00:00"
    assert not any(word in json_log.getvalue() for word in SECRET_WORDS)


async def test_a_command_is_logged_by_its_verb_never_its_words(
    desk_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await desk_app.fake.say("carol", "Printer jammed", message_id="m1")
    await desk_app.drain()
    caplog.set_level("INFO", logger="core.desk")
    assert (await desk_app.desk.run_as("alice", "reply T-1 The secret code is 4711.")).ok
    assert not (await desk_app.desk.run_as("alice", "reply T-99 Hello")).ok
    ran = [r for r in caplog.records if getattr(r, "event", "") == "command.run"]
    assert [(r.__dict__["command"], r.__dict__["ticket"], r.__dict__["outcome"]) for r in ran] == [
        ("reply", "T-1", "ok"), ("reply", "", "refused"),
    ]  # fmt: skip
    assert all("4711" not in r.getMessage() for r in ran)

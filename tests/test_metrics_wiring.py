"""The counters /metrics exports move when the desk works: sends, retries, automatic messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.channel import DeliveryError
from core.clock import FakeClock
from core.metrics import REGISTRY
from tests.fake_channel import FakeChannel


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_acknowledgement_counts_as_sent_and_automatic(
    desk_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake: FakeChannel = desk_app.fake
    sent = _value("tidings_deliveries_total", channel="fake", outcome="sent")
    acks = _value("tidings_automatic_messages_total", kind="ack")
    caplog.set_level("INFO", logger="core.delivery.worker")
    await fake.say("carol", "Cannot log in", message_id="m1")
    await desk_app.drain()
    assert [s.message.kind for s in fake.sent] == ["ack"]
    assert _value("tidings_deliveries_total", channel="fake", outcome="sent") == sent + 1
    assert _value("tidings_automatic_messages_total", kind="ack") == acks + 1
    [line] = [r for r in caplog.records if getattr(r, "event", "") == "delivery.sent"]
    assert line.__dict__["channel"] == "fake" and line.__dict__["kind"] == "ack"


async def test_a_reply_is_not_automatic_and_a_failed_send_counts_as_retried(
    desk_app: Any, clock: FakeClock
) -> None:
    fake: FakeChannel = desk_app.fake
    await fake.say("carol", "Cannot log in", message_id="m1")
    await desk_app.drain()
    replies = _value("tidings_automatic_messages_total", kind="agent_reply")
    retried = _value("tidings_deliveries_total", channel="fake", outcome="retried")
    fake.failures.append(DeliveryError("the platform is down", permanent=False))
    assert (await desk_app.desk.run_as("alice", "reply T-1 Try again now, please.")).ok
    await desk_app.drain()
    assert _value("tidings_deliveries_total", channel="fake", outcome="retried") == retried + 1
    clock.advance(timedelta(minutes=5))
    await desk_app.drain()
    assert any("Try again now, please." in text for text in fake.texts_to("carol"))
    assert _value("tidings_automatic_messages_total", kind="agent_reply") == replies

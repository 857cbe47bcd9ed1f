"""Structured logs: JSON lines with fixed fields and known ids; never bodies or secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from core.config import ConfigError, LogConfig, load_settings
from core.logs import configure_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_fixed_fields_and_ids_only(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging(LogConfig(level="info", format="json"), out)
    log = logging.getLogger("core.intake")
    log.info(
        "message accepted",
        extra={
            "event": "inbound.accepted", "channel": "email", "ticket": "T-42", "inbox_id": 7,
            "external_id": "<abc@example.com>",
            # A careless caller: none of these may reach the log.
            "text": "my password is hunter2", "body": "secret body", "password": "hunter2",
            "token": "xoxb-123",
        },
    )  # fmt: skip
    log.debug("not at info")
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert list(record)[:5] == ["time", "level", "logger", "event", "message"]
    assert record["time"].endswith("Z") and record["level"] == "info"
    assert record["logger"] == "core.intake" and record["event"] == "inbound.accepted"
    assert record["message"] == "message accepted"
    assert record["channel"] == "email" and record["ticket"] == "T-42" and record["inbox_id"] == 7
    assert record["external_id"] == "<abc@example.com>"
    assert "hunter2" not in line and "secret body" not in line and "xoxb" not in line


def test_json_keeps_a_traceback_and_text_shows_the_ids(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging(LogConfig(format="json"), out)
    try:
        raise RuntimeError("relay said 421")
    except RuntimeError:
        logging.getLogger("core.delivery").exception(
            "delivery retried", extra={"event": "delivery.retried", "outbox_id": 3, "attempt": 2}
        )
    record = json.loads(out.getvalue())
    assert record["attempt"] == 2 and "RuntimeError: relay said 421" in record["exception"]

    out = io.StringIO()
    configure_logging(LogConfig(level="warning", format="text"), out)
    logging.getLogger("tidings").info("quiet")
    logging.getLogger("tidings").warning(
        "delivery failed", extra={"channel": "slack", "ticket": "T-1"}
    )
    [line] = out.getvalue().splitlines()
    assert line.endswith('delivery failed [channel="slack" ticket="T-1"]')
    assert " WARNING tidings: " in line


def test_log_settings_reject_unknown_values() -> None:
    assert load_settings(None, log={"format": "json", "level": "debug"}).log.format == "json"
    with pytest.raises(ConfigError, match=r"log\.format"):
        load_settings(None, log={"format": "xml"})
    with pytest.raises(ConfigError, match=r"log\.colour: unknown key"):
        load_settings(None, log={"colour": True})

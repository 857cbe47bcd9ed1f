"""Logging set-up from `[log]`: text lines or JSON lines with fixed fields and known ids.

Callers pass ids as `extra=` (see FIELDS): `log.info("ticket opened", extra={"event":
"ticket.opened", "channel": "email", "ticket": "T-42"})`. Only the fields named here are
written, so a message body, token or password handed over by mistake never reaches the log.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from core.config import LogConfig

# The structured values a log line may carry, besides time, level, logger, event and message.
FIELDS = (
    "channel",
    "ticket",
    "ticket_id",
    "event_id",
    "inbox_id",
    "outbox_id",
    "external_id",
    "kind",
    "outcome",
    "attempt",
    "command",
    "agent",
    "promise",
    "due",
    "status_code",
    "error",
)
_MAX_VALUE = 300  # ids are short; a long value is cut rather than flooding the log


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in FIELDS:
        value = record.__dict__.get(name)
        if value is None:
            continue
        if not isinstance(value, int | float | bool):
            value = str(value)[:_MAX_VALUE]
        found[name] = value
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, event, message, then the known fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": str(record.__dict__.get("event") or ""),
            "message": record.getMessage(),
            **_fields(record),
        }  # fmt: skip
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with the known fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if not fields:
            return line
        head, sep, tail = line.partition("\n")  # keep a traceback below the fields
        pairs = " ".join(
            f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in fields.items()
        )
        return f"{head} [{pairs}]{sep}{tail}"


def configure_logging(config: LogConfig, stream: TextIO | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one that writes `config.format` at
    `config.level`; returns the handler (tests read what it wrote)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if config.format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level.upper())
    # aiosmtpd logs every SMTP command at INFO; keep the operator's log about Tidings.
    logging.getLogger("mail.log").setLevel(max(logging.WARNING, root.level))
    return handler

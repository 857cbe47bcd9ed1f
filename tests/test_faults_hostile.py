"""Hostile mail over real SMTP into `tidings run`, on both databases: each gets `250` and ends
up on a ticket in bounded time, with nothing the database cannot store."""

from __future__ import annotations

import base64
import hashlib
import smtplib
from pathlib import Path
from typing import Any

import pytest

from tests.fault_harness import (
    SUPPORT,
    Holdings,
    Tidings,
    backlog,
    environment,
    holdings,
    wait_until,
)

SENDER = "ann@customers.example"
# A normal message is applied within milliseconds; this bounds each case, not a benchmark.
APPLIED_WITHIN = 15.0


def _headers(subject: bytes, sender_name: bytes = b"Ann Example", extra: bytes = b"") -> bytes:
    return (
        b"From: " + sender_name + b" <" + SENDER.encode() + b">\r\n"
        b"To: " + SUPPORT.encode() + b"\r\n"
        b"Subject: " + subject + b"\r\n"
        b"Message-ID: <hostile-"
        + hashlib.sha256(subject).hexdigest()[:16].encode()
        + b"@customers.example>\r\n"
        b"MIME-Version: 1.0\r\n" + extra
    )


def deliver(database_url: str, tmp_path: Path, raw: bytes) -> Holdings:
    """Send `raw` to a fresh `tidings run` over SMTP (it must answer 250), wait (bounded) until
    the inbox is applied, and return what the desk holds."""
    tidings = Tidings(environment(tmp_path, database_url), tmp_path)
    tidings.start()
    try:
        with smtplib.SMTP("127.0.0.1", tidings.smtp_port, timeout=30) as client:
            refused = client.sendmail(SENDER, [SUPPORT], raw)  # raises unless 250
        assert refused == {}
        wait_until(
            lambda: backlog(database_url)[0] == 0,
            "the stored mail to be applied",
            seconds=APPLIED_WITHIN,
            step=0.2,
        )
        return holdings(database_url)
    finally:
        tidings.kill()


def _one_ticket(held: Holdings) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    assert len(held.tickets) == 1, f"expected one ticket, got {len(held.tickets)}"
    [ticket] = held.tickets
    return ticket, list(ticket["events"])


@pytest.mark.timeout(120)
def test_a_line_of_30000_spaces_is_decoded_in_bounded_time(
    database_url: str, tmp_path: Path
) -> None:
    body = ("The report is below.\r\n" + " " * 30_000 + "x\r\n").encode()
    raw = _headers(
        b"Report with a wide line",
        extra=b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n",
    ) + base64.encodebytes(body).replace(b"\n", b"\r\n")
    ticket, events = _one_ticket(deliver(database_url, tmp_path, raw))
    assert ticket["subject"] == "Report with a wide line"
    [message] = [e for e in events if e["kind"] == "customer_message"]
    assert message["text"].split() == ["The", "report", "is", "below.", "x"]


@pytest.mark.timeout(120)
def test_nul_bytes_in_body_subject_and_sender_name_are_removed(
    database_url: str, tmp_path: Path
) -> None:
    raw = (
        _headers(
            b"Disk\x00 full",
            sender_name=b"Ann\x00 Example",
            extra=b"Content-Type: text/plain; charset=utf-8\r\n\r\n",
        )
        + b"The disk\x00 on the build server is full.\r\n"
    )
    ticket, events = _one_ticket(deliver(database_url, tmp_path, raw))
    assert ticket["subject"] == "Disk full"
    assert ticket["requester"] == {"channel": "email", "address": SENDER, "name": "Ann Example"}
    [message] = [e for e in events if e["kind"] == "customer_message"]
    assert message["text"] == "The disk on the build server is full."
    assert "ack" in [e["kind"] for e in events]


def _unreadable_mime() -> bytes:
    """A mail whose MIME structure the parser cannot read: 3,000 nested message/rfc822 parts
    (the standard library's parser recurses once per level)."""
    inner = b"Subject: the innermost part\r\n\r\nThe printer prints blank pages.\r\n"
    for _ in range(3000):
        inner = b"Content-Type: message/rfc822\r\n\r\n" + inner
    return _headers(b"Printer prints blank pages") + inner


@pytest.mark.timeout(120)
def test_a_mail_with_unreadable_mime_is_not_lost(database_url: str, tmp_path: Path) -> None:
    ticket, events = _one_ticket(deliver(database_url, tmp_path, _unreadable_mime()))
    assert ticket["subject"] == "Printer prints blank pages"
    assert ticket["requester"]["address"] == SENDER
    [message] = [e for e in events if e["kind"] == "customer_message"]
    assert "The printer prints blank pages." in message["text"], "the raw text is shown"
    assert "ack" in [e["kind"] for e in events]


@pytest.mark.timeout(120)
def test_a_mail_with_unreadable_mime_is_marked_for_a_person(
    database_url: str, tmp_path: Path
) -> None:
    _, events = _one_ticket(deliver(database_url, tmp_path, _unreadable_mime()))
    internal = [e["text"] for e in events if e["visibility"] == "internal"]
    assert any("unreadable" in text.lower() for text in internal), internal

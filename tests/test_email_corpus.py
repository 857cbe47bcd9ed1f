"""Real-world mail nobody here wrote (../shared/corpus/email): machines never get a ticket.

The whole corpus goes through decode(); a sample goes through the real SMTP server and the App.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import select

from bot.app import App
from channels.email import EmailChannel
from channels.email.envelope import Envelope, frame
from channels.email.parse import ParseOptions, decode_payload
from core.channel import Ignored, InboundKind, InboundMessage
from core.clock import FakeClock
from core.storage.models import InboxRow
from tests.fake_smtp import CaptureSMTP

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "email"
SUPPORT = "support@acme.test"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/email is absent")

_RETURN_PATH = re.compile(rb"(?im)^return-path:[ \t]*<?([^>\r\n]*)>?")
_FROM = re.compile(rb"(?im)^from:[^\r\n]*?<?([^<>\s\"]+@[^<>\s\"]+)>?[ \t]*\r?$")


def corpus_files(folder: str) -> list[Path]:
    return sorted((CORPUS / folder).glob("*.eml"))


def envelope_sender(raw: bytes) -> str:
    """The corpus README's replay rule: Return-Path, else <> for mail systems, else From."""
    found = _RETURN_PATH.search(raw)
    if found:
        return found.group(1).decode("utf-8", "replace").strip()
    sender = _FROM.search(raw)
    address = sender.group(1).decode("utf-8", "replace") if sender else ""
    if re.match(r"(?i)(mailer-daemon|postmaster)\b", address):
        return ""
    return address or "replay@example.org"


def crlf(raw: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", raw)


def decode_file(path: Path) -> InboundMessage | Ignored:
    raw = path.read_bytes()
    payload = frame(Envelope(envelope_sender(raw), (SUPPORT,)), crlf(raw))
    result = decode_payload(payload, ParseOptions(our_domains=frozenset({"acme.test"})))
    assert isinstance(result, InboundMessage | Ignored), result
    return result


def reference_subject(raw: bytes) -> str:
    try:
        return " ".join(
            str(BytesParser(policy=policy.default).parsebytes(raw)["subject"] or "").split()
        )
    except Exception:
        return ""


def test_every_corpus_file_decodes_to_the_right_kind(capsys: pytest.CaptureFixture[str]) -> None:
    counts: Counter[tuple[str, str]] = Counter()
    for folder in ("auto", "human", "edge"):
        for path in corpus_files(folder):
            result = decode_file(path)
            kind = result.kind.value if isinstance(result, InboundMessage) else "rejected"
            counts[(folder, kind)] += 1
            if folder == "auto":
                assert kind != "message", f"{path.name} would open a ticket: {result}"
            if isinstance(result, Ignored):
                assert result.reason, path.name  # a rejection always says why
                continue
            assert result.text.strip(), path.name
            if folder == "edge" and kind == "message":
                expected = reference_subject(path.read_bytes())
                # Ours must match the stdlib's full parse, except where that one gave up on a
                # raw 8-bit or broken encoded-word subject and we decoded it.
                assert " ".join(result.subject.split()) == expected or (
                    "\ufffd" in expected or "=?" in expected
                ), path.name
            if folder == "human" and kind != "message":
                # sisimai files this as "not a bounce", but it carries Auto-Submitted:
                # auto-replied and a null Return-Path: RFC 3834 forbids answering it, and loop
                # protection wins. See the email channel notes.
                assert b"Auto-Submitted: auto-replied" in path.read_bytes(), path.name
    totals = {folder: sum(v for (f, _), v in counts.items() if f == folder) for folder in
              ("auto", "human", "edge")}  # fmt: skip
    with capsys.disabled():  # the counts belong in the CI log, not only in a failure report
        print(f"\nemail corpus via decode(): {totals}; by kind: {dict(sorted(counts.items()))}")
    assert totals["auto"] == len(corpus_files("auto")) > 0
    assert counts[("human", "message")] >= 2


@pytest.fixture
async def desk(
    settings_factory: Any, clock: FakeClock
) -> AsyncIterator[tuple[App, EmailChannel, CaptureSMTP]]:
    async with CaptureSMTP() as relay:
        settings = settings_factory(
            email={
                "enabled": True, "port": 0, "addresses": [SUPPORT],
                "from_address": SUPPORT,
                "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": relay.port},
            }
        )  # fmt: skip
        channel = EmailChannel(settings)
        async with App(settings, clock=clock, channels=[channel], background=False) as app:
            yield app, channel, relay


async def replay(port: int, raw: bytes) -> int:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as client:
        await client.mail(envelope_sender(raw))
        await client.rcpt(SUPPORT)
        try:
            response = await client.data(crlf(raw))
        except aiosmtplib.SMTPResponseException as refused:
            return refused.code
        return response.code


async def test_corpus_sample_through_smtp_and_app(
    desk: tuple[App, EmailChannel, CaptureSMTP], capsys: pytest.CaptureFixture[str]
) -> None:
    app, channel, relay = desk
    sample = corpus_files("auto")[::25] + corpus_files("human") + corpus_files("edge")[::8]
    expected_tickets = 0
    machine_senders: set[str] = set()
    for path in sample:
        raw = path.read_bytes()
        code = await replay(channel.port, raw)
        assert code == 250, f"{path.name}: SMTP {code}"
        decoded = decode_file(path)
        if isinstance(decoded, InboundMessage) and decoded.kind is InboundKind.MESSAGE:
            expected_tickets += 1
        elif isinstance(decoded, InboundMessage):
            machine_senders.add(decoded.reply_target.address)
    await app.drain()

    async with app.db.sessions() as session:
        outcomes = (await session.scalars(select(InboxRow.outcome))).all()
    assert len(outcomes) == len(sample), "every accepted message is in the inbox"
    assert all(outcome and not outcome.startswith("error") for outcome in outcomes), outcomes
    tickets = await app.list_tickets()
    acked = {rcpt for message in relay.messages for rcpt in message.rcpt_tos}
    with capsys.disabled():
        print(
            f"\ncorpus sample via SMTP+App: {len(sample)} messages, {len(tickets)} tickets, "
            f"{len(relay.messages)} acks, machine senders answered: {len(acked & machine_senders)}"
        )
    assert len(tickets) == expected_tickets
    assert len(relay.messages) == expected_tickets
    assert not acked & machine_senders, "an auto-generated message was answered"

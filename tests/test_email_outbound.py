"""What the customer's mailbox receives, and how relay trouble maps to retry or failure."""

from __future__ import annotations

import mailbox
import shutil
import socket
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import compat32, default
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from channels.email import EmailChannel
from channels.email.outbound import _POLICY, build_message, message_id, reply_subject
from channels.email.transport import MaildirTransport
from core.channel import DeliveryError, OutboundMessage, ReplyTarget
from core.config import load_settings
from tests.fake_smtp import CaptureSMTP

TARGET = ReplyTarget("email", "ann@example.org", "<vpn-1@mail.example.org>")


def outbound(**changes: Any) -> OutboundMessage:
    fields: dict[str, Any] = {
        "ticket_ref": "T-42",
        "subject": "VPN drops",
        "text": "Hello Ann,\n\nwe have logged T-42 – you'll hear from us by 15:00.",
        "kind": "ack",
        "automatic": True,
        "token": "3f2a9c",
        "in_reply_to": "<vpn-2@mail.example.org>",
        "references": ("<vpn-1@mail.example.org>", "<9d9d@acme.test>", "sha256:abc"),
    }
    fields.update(changes)
    return OutboundMessage(**fields)


def settings(tmp_path: Path, **outbound_config: Any) -> Any:
    return load_settings(
        None,
        email={
            "from_address": "support@acme.test",
            "outbound": {"transport": "maildir", "maildir": str(tmp_path / "outbox"),
                         **outbound_config},
        },
    )  # fmt: skip


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("VPN drops", "Re: [T-42] VPN drops"),
        ("Re: VPN drops", "Re: [T-42] VPN drops"),
        ("RE: AW: Fwd: [T-42] VPN drops", "Re: [T-42] VPN drops"),
        ("Re: [T-42] Re: [T-42] VPN drops", "Re: [T-42] VPN drops"),
        ("VPN\r\n drops", "Re: [T-42] VPN drops"),
        ("", "Re: [T-42]"),
    ],
)
def test_subject_is_re_tag_subject_without_stacking(subject: str, expected: str) -> None:
    assert reply_subject("T-42", subject) == expected


def test_acknowledgement_headers_thread_and_mark_it_automatic() -> None:
    mail = build_message(
        TARGET, outbound(), from_address="support@acme.test", from_name="ACME Support",
        now=datetime(2026, 11, 23, 9, tzinfo=UTC),
    )  # fmt: skip
    parsed = BytesParser(policy=default).parsebytes(mail.as_bytes())
    assert parsed["From"] == "ACME Support <support@acme.test>"
    assert parsed["To"] == "ann@example.org"
    assert parsed["Subject"] == "Re: [T-42] VPN drops"
    assert parsed["Message-ID"] == "<3f2a9c@acme.test>"
    assert parsed["In-Reply-To"] == "<vpn-2@mail.example.org>"
    assert parsed["References"] == (
        "<vpn-1@mail.example.org> <9d9d@acme.test> <vpn-2@mail.example.org>"
    )
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["Date"] == "Mon, 23 Nov 2026 09:00:00 +0000"
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    body = parsed.get_content().replace("\r\n", "\n")
    assert body == "Hello Ann,\n\nwe have logged T-42 – you'll hear from us by 15:00.\n"


def test_human_reply_has_no_auto_submitted_and_retry_reuses_the_message_id() -> None:
    first = build_message(TARGET, outbound(automatic=False, kind="agent_reply"),
                          from_address="support@acme.test")  # fmt: skip
    retry = build_message(TARGET, outbound(automatic=False, kind="agent_reply"),
                          from_address="support@acme.test")  # fmt: skip
    assert first["Auto-Submitted"] is None
    assert first["Message-ID"] == retry["Message-ID"] == message_id("3f2a9c", "support@acme.test")


def test_first_message_without_history_has_no_thread_headers() -> None:
    mail = build_message(TARGET, outbound(in_reply_to="", references=()),
                         from_address="support@acme.test")  # fmt: skip
    assert mail["In-Reply-To"] is None and mail["References"] is None


async def test_maildir_transport_writes_one_readable_file_once(tmp_path: Path) -> None:
    channel = EmailChannel(settings(tmp_path))
    result = await channel.send(TARGET, outbound())
    again = await channel.send(TARGET, outbound())  # a retry after a crash: same token
    assert result.external_id == again.external_id == "<3f2a9c@acme.test>"
    box = mailbox.Maildir(str(tmp_path / "outbox"), create=False)
    [stored] = list(box)
    assert stored["Subject"] == "Re: [T-42] VPN drops"
    assert list((tmp_path / "outbox" / "tmp").iterdir()) == []


async def test_maildir_transport_unwritable_folder_is_a_temporary_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    transport = MaildirTransport(str(blocker / "outbox"))
    with pytest.raises(DeliveryError) as failed:
        await transport.deliver(build_message(TARGET, outbound(), from_address="s@acme.test"),
                                "s@acme.test", ["ann@example.org"])  # fmt: skip
    assert not failed.value.permanent


async def test_maildir_removed_while_running_is_made_again_on_the_retry(tmp_path: Path) -> None:
    channel = EmailChannel(settings(tmp_path))
    await channel.send(TARGET, outbound(token="first"))
    shutil.rmtree(tmp_path / "outbox")  # someone cleans up the folder under us
    with pytest.raises(DeliveryError) as failed:
        await channel.send(TARGET, outbound(token="second"))
    assert not failed.value.permanent
    await channel.send(TARGET, outbound(token="second"))  # the outbox's retry
    assert len(list(mailbox.Maildir(str(tmp_path / "outbox"), create=False))) == 1


_COMPAT32 = compat32.clone(linesep="\r\n")
_HEADER_NAMES = st.sampled_from(["Subject", "To", "From", "References", "X-Tidings-Ticket"])


@settings_(max_examples=400, deadline=None)
@given(_HEADER_NAMES, st.text(alphabet=st.characters(min_codepoint=9, max_codepoint=130)))
def test_headers_are_written_as_compat32_writes_them(name: str, value: str) -> None:
    def written(policy: Any) -> object:
        try:
            return policy.fold_binary(name, value)
        except Exception as exc:  # compat32 refuses, e.g., a value that smuggles in a header
            return type(exc)

    assert written(_POLICY) == written(_COMPAT32)


@pytest.mark.parametrize(
    "changes",
    [{}, {"subject": "Ärger mit dem VPN – seit heute früh " * 3},
     {"references": tuple(f"<{n}.{'x' * 30}@mail.example.org>" for n in range(12))},
     {"subject": "a" * 300, "automatic": False}],
)  # fmt: skip
def test_whole_messages_are_written_as_compat32_writes_them(changes: dict[str, Any]) -> None:
    when = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    mail = build_message(
        TARGET, outbound(**changes), from_address="support@acme.test", from_name="ACME Süpport",
        now=when,
    )  # fmt: skip
    assert mail.as_bytes() == mail.as_bytes(policy=_COMPAT32)


async def test_smtp_transport_delivers_with_auth_and_envelope(tmp_path: Path) -> None:
    async with CaptureSMTP(credentials=("tidings", "s3cret")) as relay:
        relay_settings = settings(
            tmp_path, transport="smtp", host="127.0.0.1", port=relay.port,
            username="tidings", password="s3cret",
        )  # fmt: skip
        channel = EmailChannel(relay_settings)
        result = await channel.send(TARGET, outbound())
        [captured] = await relay.wait_for(1)
    assert result.external_id == "<3f2a9c@acme.test>"
    assert captured.mail_from == "support@acme.test"
    assert captured.rcpt_tos == ["ann@example.org"]
    assert captured.message["Message-ID"] == "<3f2a9c@acme.test>"
    assert "you'll hear from us by 15:00" in captured.text


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [("451 4.3.0 Mailbox busy", False), ("550 5.1.1 No such user", True),
     ("552 5.3.4 Too big", True), ("421 4.7.0 Try later", False)],
)  # fmt: skip
async def test_smtp_transport_4xx_retries_5xx_is_permanent(
    tmp_path: Path, reply: str, permanent: bool
) -> None:
    async with CaptureSMTP() as relay:
        relay.replies.append(reply)
        channel = EmailChannel(settings(tmp_path, transport="smtp", host="127.0.0.1",
                                        port=relay.port))  # fmt: skip
        with pytest.raises(DeliveryError) as failed:
            await channel.send(TARGET, outbound())
    assert failed.value.permanent is permanent
    assert reply.split()[0] in failed.value.reason


async def test_smtp_transport_wrong_password_is_retried_not_dropped(tmp_path: Path) -> None:
    async with CaptureSMTP(credentials=("tidings", "s3cret")) as relay:
        relay_settings = settings(
            tmp_path, transport="smtp", host="127.0.0.1", port=relay.port,
            username="tidings", password="nope",
        )  # fmt: skip
        channel = EmailChannel(relay_settings)
        with pytest.raises(DeliveryError) as failed:
            await channel.send(TARGET, outbound())
    assert not failed.value.permanent and "credentials" in failed.value.reason


async def test_smtp_transport_relay_down_is_temporary(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = EmailChannel(settings(tmp_path, transport="smtp", host="127.0.0.1", port=port))
    with pytest.raises(DeliveryError) as failed:
        await channel.send(TARGET, outbound())
    assert not failed.value.permanent


async def test_target_that_is_not_an_address_fails_permanently(tmp_path: Path) -> None:
    channel = EmailChannel(settings(tmp_path))
    with pytest.raises(DeliveryError) as failed:
        await channel.send(ReplyTarget("email", "C0123", ""), outbound())
    assert failed.value.permanent


def test_files_go_as_attachments_after_the_text_and_survive_the_outbox_json() -> None:
    from channels.email.outbound import file_part
    from core.channel import Attachment
    from core.delivery.rows import decode_message, encode_message

    files = (
        Attachment("Rechnung 1042 – korrigiert.pdf", "application/pdf", 9, "/kept/01-r.pdf"),
        Attachment("trace", "not a type", 3, "/kept/02-trace"),
    )
    message = outbound(kind="agent_reply", automatic=False, attachments=files)
    assert decode_message(encode_message(message)) == message
    assert "attachments" not in encode_message(outbound())  # a message without files: as before

    read = [(files[0], b"%PDF-1.4\n"), (files[1], b"\x00\x01\x02")]
    mail = build_message(TARGET, message, from_address="support@acme.test", files=read)
    parsed = BytesParser(policy=default).parsebytes(mail.as_bytes(policy=_POLICY))
    assert parsed.get_content_type() == "multipart/mixed"
    body = parsed.get_body(("plain",))
    assert body is not None and "we have logged T-42" in body.get_content()
    pdf, trace = parsed.iter_attachments()
    assert pdf.get_filename() == "Rechnung 1042 – korrigiert.pdf"  # RFC 2231, read back whole
    assert (pdf.get_content_type(), pdf.get_content()) == ("application/pdf", b"%PDF-1.4\n")
    assert trace.get_content_type() == "application/octet-stream"  # an unusable type replaced
    assert trace.get_content() == b"\x00\x01\x02"
    assert file_part(files[1], b"").get_filename() == "trace"

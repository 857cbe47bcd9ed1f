"""The SMTP intake as a sending mail server sees it: real clients, real aiosmtpd, loopback."""

from __future__ import annotations

import asyncio
import shutil
import smtplib
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email import EmailChannel
from channels.email.envelope import unframe
from channels.email.server import make_acceptor
from core.channel import Actor, CommandReply, Ignored, InboundMessage, RawInbound
from core.config import load_settings

MESSAGE = (
    b"From: Ann Example <ann@example.org>\r\n"
    b"To: support@acme.test\r\n"
    b"Subject: VPN drops\r\n"
    b"Message-ID: <vpn-1@mail.example.org>\r\n"
    b"\r\n"
    b"The VPN drops every five minutes.\r\n"
)


class DictIntake:
    """A minimal Intake: stores payloads in a dict, answers duplicates like the real inbox."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}
        self.fail = False

    async def receive(self, raw: RawInbound) -> bool:
        if self.fail:
            raise RuntimeError("database is down")
        if raw.external_id in self.stored:
            return False
        self.stored[raw.external_id] = raw.payload
        return True

    async def command(self, actor: Actor, text: str) -> CommandReply:
        return CommandReply(False, "not here")

    async def search_tickets(self, text: str, limit: int = 25) -> list[tuple[str, str]]:
        return []

    async def search_incidents(self, text: str, limit: int = 25) -> list[tuple[str, str]]:
        return []


def email_settings(tmp_path: Path, **email: Any) -> Any:
    section = {
        "port": 0,
        "addresses": ["support@acme.test", "@help.acme.test"],
        "from_address": "support@acme.test",
        "max_message_bytes": 4096,
        "attachments_dir": str(tmp_path / "att"),
        "outbound": {"transport": "maildir", "maildir": str(tmp_path / "outbox")},
        **email,
    }
    return load_settings(None, email=section)


@pytest.fixture
async def intake_server(tmp_path: Path) -> AsyncIterator[tuple[EmailChannel, DictIntake]]:
    channel = EmailChannel(email_settings(tmp_path))
    intake = DictIntake()
    await channel.start(intake)
    try:
        yield channel, intake
    finally:
        await channel.stop()


def smtplib_send(port: int, sender: str, rcpts: list[str], data: bytes) -> dict[str, Any]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.sendmail(sender, rcpts, data)


async def test_smtplib_message_is_stored_with_its_envelope_before_250(
    intake_server: tuple[EmailChannel, DictIntake],
) -> None:
    channel, intake = intake_server
    refused = await asyncio.to_thread(
        smtplib_send, channel.port, "ann@example.org", ["support@acme.test"], MESSAGE
    )
    assert refused == {}
    [(key, payload)] = intake.stored.items()
    assert key == "ann@example.org|<vpn-1@mail.example.org>"
    envelope, raw = unframe(payload)
    assert envelope.mail_from == "ann@example.org"
    assert envelope.rcpt_tos == ("support@acme.test",)
    assert raw == MESSAGE


async def test_aiosmtplib_duplicate_message_id_from_same_sender_is_250_and_nothing_new(
    intake_server: tuple[EmailChannel, DictIntake],
) -> None:
    channel, intake = intake_server
    for _ in range(2):
        _, reply = await aiosmtplib.send(
            MESSAGE, sender="ann@example.org", recipients=["support@acme.test"],
            hostname="127.0.0.1", port=channel.port,
        )  # fmt: skip
    assert "already have it" in reply
    assert len(intake.stored) == 1
    # The same Message-ID from somebody else is not swallowed as a duplicate.
    await aiosmtplib.send(
        MESSAGE, sender="mallory@example.net", recipients=["support@acme.test"],
        hostname="127.0.0.1", port=channel.port,
    )  # fmt: skip
    assert len(intake.stored) == 2


async def test_unknown_recipient_is_550_and_nothing_is_stored(
    intake_server: tuple[EmailChannel, DictIntake],
) -> None:
    channel, intake = intake_server
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(
            MESSAGE, sender="ann@example.org", recipients=["ceo@acme.test"],
            hostname="127.0.0.1", port=channel.port,
        )  # fmt: skip
    [recipient] = refused.value.recipients
    assert recipient.code == 550 and recipient.message.startswith("5.1.1")
    assert intake.stored == {}


async def test_domain_entry_and_subaddress_are_accepted() -> None:
    accepts = make_acceptor(["support@acme.test", "@help.acme.test"])
    assert accepts("Support@ACME.test")
    assert accepts("support+billing@acme.test")
    assert accepts("anyone@help.acme.test")
    assert not accepts("sales@acme.test")
    assert not accepts("support@acme.test.evil.example")
    assert not accepts("")


def _oversize_session(port: int, big: bytes) -> list[tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        # Without a SIZE parameter the limit is found while reading DATA.
        client.mail("ann@example.org")
        client.rcpt("support@acme.test")
        answers = [client.data(big)]
        # With SIZE declared, MAIL FROM is refused up front.
        answers.append(client.mail("ann@example.org", ["SIZE=999999"]))
        return answers


async def test_oversize_message_is_552_534_and_nothing_is_stored(
    intake_server: tuple[EmailChannel, DictIntake],
) -> None:
    channel, intake = intake_server
    big = MESSAGE + (b"y" * 900 + b"\r\n") * 6
    answers = await asyncio.to_thread(_oversize_session, channel.port, big)
    assert [(code, text[:5]) for code, text in answers] == [(552, b"5.3.4"), (552, b"5.3.4")]
    assert intake.stored == {}


async def test_null_sender_and_smtputf8_are_accepted(
    intake_server: tuple[EmailChannel, DictIntake],
) -> None:
    channel, intake = intake_server
    bounce = b"From: MAILER-DAEMON@mx.example.org\r\nSubject: Undelivered\r\n\r\nGone.\r\n"
    await asyncio.to_thread(smtplib_send, channel.port, "", ["support@acme.test"], bounce)
    utf8 = "From: Jürgen <jürgen@bücher.example>\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode()
    await aiosmtplib.send(
        utf8, sender="jürgen@bücher.example", recipients=["support@acme.test"],
        hostname="127.0.0.1", port=channel.port, mail_options=["SMTPUTF8"],
    )  # fmt: skip
    senders = sorted(unframe(payload)[0].mail_from for payload in intake.stored.values())
    assert senders == ["", "jürgen@bücher.example"]


async def test_lines_over_998_characters_are_accepted_as_documented(
    intake_server: tuple[EmailChannel, DictIntake],
) -> None:
    channel, intake = intake_server
    long_line = b"<p>" + b"a" * 2000 + b"</p>\r\n"
    message = MESSAGE.replace(b"Message-ID: <vpn-1@", b"Message-ID: <long@") + long_line
    await aiosmtplib.send(
        message, sender="ann@example.org", recipients=["support@acme.test"],
        hostname="127.0.0.1", port=channel.port,
    )  # fmt: skip
    [payload] = intake.stored.values()
    assert long_line in payload


async def test_line_over_the_limit_is_refused_with_a_clear_5xx(tmp_path: Path) -> None:
    from channels.email.server import LINE_LIMIT

    channel = EmailChannel(email_settings(tmp_path, max_message_bytes=4 * LINE_LIMIT))
    intake = DictIntake()
    await channel.start(intake)
    try:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await aiosmtplib.send(
                MESSAGE + b"z" * (LINE_LIMIT + 10) + b"\r\n", sender="ann@example.org",
                recipients=["support@acme.test"], hostname="127.0.0.1", port=channel.port,
            )  # fmt: skip
    finally:
        await channel.stop()
    assert refused.value.code == 500 and refused.value.message.startswith("5.5.2")
    assert intake.stored == {}


async def test_storage_failure_is_451_so_the_sender_retries(
    intake_server: tuple[EmailChannel, DictIntake],
) -> None:
    channel, intake = intake_server
    intake.fail = True
    with pytest.raises(aiosmtplib.SMTPDataError) as failed:
        await aiosmtplib.send(
            MESSAGE, sender="ann@example.org", recipients=["support@acme.test"],
            hostname="127.0.0.1", port=channel.port,
        )  # fmt: skip
    assert failed.value.code == 451
    intake.fail = False
    await aiosmtplib.send(
        MESSAGE, sender="ann@example.org", recipients=["support@acme.test"],
        hostname="127.0.0.1", port=channel.port,
    )  # fmt: skip
    assert len(intake.stored) == 1


async def test_stop_closes_idle_client_connections(tmp_path: Path) -> None:
    channel = EmailChannel(email_settings(tmp_path))
    await channel.start(DictIntake())
    assert channel.problem() is None
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=channel.port, timeout=5)
    await client.connect()
    await client.ehlo()
    await channel.stop()
    assert channel.problem() == "SMTP intake is not listening"
    with pytest.raises(aiosmtplib.SMTPException):
        await client.noop()


def _self_signed(directory: Path) -> tuple[str, str]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI for a cert")
async def test_starttls_with_configured_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    channel = EmailChannel(email_settings(tmp_path, tls_cert=cert, tls_key=key))
    intake = DictIntake()
    await channel.start(intake)
    try:
        client_context = ssl.create_default_context(cafile=cert)
        client_context.check_hostname = False
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=channel.port, start_tls=False, tls_context=client_context
        )
        async with client:
            await client.ehlo()
            assert client.supports_extension("starttls")
            await client.starttls()
            assert client.get_transport_info("sslcontext") is not None
            await client.sendmail("ann@example.org", ["support@acme.test"], MESSAGE)
    finally:
        await channel.stop()
    assert len(intake.stored) == 1


async def test_port_in_use_is_a_clear_start_error(
    intake_server: tuple[EmailChannel, DictIntake], tmp_path: Path
) -> None:
    taken, _ = intake_server
    second = EmailChannel(email_settings(tmp_path, port=taken.port))
    with pytest.raises(OSError, match=r"email intake cannot listen on 127\.0\.0\.1:\d+"):
        await second.start(DictIntake())


async def test_unloadable_certificate_is_a_clear_start_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    channel = EmailChannel(email_settings(tmp_path, tls_cert=missing, tls_key=missing))
    with pytest.raises(ValueError, match="tls_cert"):
        await channel.start(DictIntake())


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
async def test_swaks_delivers_a_message(intake_server: tuple[EmailChannel, DictIntake]) -> None:
    channel, intake = intake_server
    process = await asyncio.create_subprocess_exec(
        "swaks", "--server", "127.0.0.1", "--port", str(channel.port),
        "--from", "ann@example.org", "--to", "support@acme.test",
        "--header", "Subject: sent by swaks", "--body", "hello from swaks",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(30):
        output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    [payload] = intake.stored.values()
    assert b"sent by swaks" in payload


def _smtp_round_trip(tmp_path: Path, data: bytes) -> tuple[int, DictIntake]:
    async def run() -> tuple[int, DictIntake]:
        channel = EmailChannel(email_settings(tmp_path))
        intake = DictIntake()
        await channel.start(intake)
        try:
            async with aiosmtplib.SMTP(hostname="127.0.0.1", port=channel.port) as client:
                await client.mail("ann@example.org")
                await client.rcpt("support@acme.test")
                try:
                    return (await client.data(data)).code, intake
                except aiosmtplib.SMTPResponseException as refused:
                    return refused.code, intake
        finally:
            await channel.stop()

    return asyncio.run(run())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.lists(
        st.sampled_from(
            [
                b"Content-Type: multipart/mixed; boundary=q\r\n",
                b"\r\n",
                b"--q\r\n",
                b"Subject: =?utf-8?q?=FF?=\r\n",
                b"From: <>\r\n",
                b".\r\n",
                b"\x00\xff",
                b"x" * 5000,
            ]
        )
        | st.binary(max_size=300),
        max_size=12,
    ).map(b"".join)
)
def test_arbitrary_bytes_over_smtp_end_stored_and_decodable_or_refused(
    tmp_path: Path, data: bytes
) -> None:
    code, intake = _smtp_round_trip(tmp_path, data)
    if code == 250:
        [payload] = intake.stored.values()
        decoded = EmailChannel(email_settings(tmp_path)).decode(payload)
        assert isinstance(decoded, InboundMessage | Ignored)
    else:
        assert code >= 500 and intake.stored == {}

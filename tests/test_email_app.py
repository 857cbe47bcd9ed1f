"""Email end to end: a customer's mail client, our SMTP intake, the core, and a capture relay."""

from __future__ import annotations

import asyncio
import shutil
import smtplib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from email.utils import make_msgid
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import func, select

from bot.app import App
from channels.email import EmailChannel
from core.clock import FakeClock
from core.storage.models import InboxRow
from tests.fake_smtp import CaptureSMTP

SUPPORT = "support@acme.test"


@dataclass
class MailDesk:
    app: App
    channel: EmailChannel
    relay: CaptureSMTP

    async def customer_sends(self, data: bytes, sender: str = "ann@example.org") -> str:
        """One SMTP transaction; `sender=""` is the null sender MAIL FROM:<> of bounces."""
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=self.channel.port) as client:
            await client.mail(sender)
            await client.rcpt(SUPPORT)
            response = await client.data(data)
        return response.message

    async def events(self, number: int) -> list[dict[str, Any]]:
        shown = await self.app.show_ticket(number)
        assert shown is not None
        return list(shown["events"])


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[MailDesk]:
    async with CaptureSMTP() as relay:
        settings = settings_factory(
            email={
                "enabled": True, "port": 0, "addresses": [SUPPORT], "from_address": SUPPORT,
                "max_message_bytes": 64 * 1024,
                "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": relay.port},
            }
        )  # fmt: skip
        channel = EmailChannel(settings)
        async with App(settings, clock=clock, channels=[channel], background=False) as app:
            yield MailDesk(app, channel, relay)


def mail(subject: str, body: str, *, sender: str = "Ann Example <ann@example.org>",
         message_id: str = "", headers: str = "") -> bytes:  # fmt: skip
    message_id = message_id or make_msgid(domain="mail.example.org")
    return (
        f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
        f"{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


async def test_mail_becomes_ticket_ack_threads_and_reply_joins_it(desk: MailDesk) -> None:
    reply = await desk.customer_sends(
        mail("VPN drops", "The VPN drops every 5 minutes.", message_id="<vpn-1@mail.example.org>")
    )
    assert reply.startswith("2.0.0")
    await desk.app.drain()

    [ticket] = await desk.app.list_tickets()
    assert (ticket["ref"], ticket["subject"]) == ("T-1", "VPN drops")
    [ack] = await desk.relay.wait_for(1)
    assert ack.mail_from == SUPPORT and ack.rcpt_tos == ["ann@example.org"]
    headers = ack.message
    assert headers["Subject"] == "Re: [T-1] VPN drops"
    assert headers["From"] == SUPPORT and headers["To"] == "ann@example.org"
    assert headers["In-Reply-To"] == "<vpn-1@mail.example.org>"
    assert "<vpn-1@mail.example.org>" in headers["References"]
    assert headers["Auto-Submitted"] == "auto-replied"
    assert headers["Message-ID"].endswith("@acme.test>")
    assert "T-1" in ack.text

    # Ann answers the acknowledgement from her mail client, quoting it below her text.
    answer = mail(
        "Re: [T-1] VPN drops",
        "It also happens on the office Wi-Fi.\r\n\r\nOn Mon, Support wrote:\r\n> " + ack.text[:40],
        headers=f"In-Reply-To: {headers['Message-ID']}\r\n"
        f"References: <vpn-1@mail.example.org> {headers['Message-ID']}\r\n",
    )
    await desk.customer_sends(answer)
    await desk.app.drain()
    assert len(await desk.app.list_tickets()) == 1, "a reply must never open a new ticket"
    messages = [e for e in await desk.events(1) if e["kind"] == "customer_message"]
    assert [m["text"] for m in messages] == [
        "The VPN drops every 5 minutes.",
        "It also happens on the office Wi-Fi.",
    ]

    # An agent's own reply goes out as a person's mail: no Auto-Submitted, same thread.
    assert (await desk.app.desk.run_as("alice", "reply T-1 Which VPN client version?")).ok
    await desk.app.drain()
    human = desk.relay.messages[-1].message
    assert human["Auto-Submitted"] is None
    assert human["Subject"] == "Re: [T-1] VPN drops"
    assert human["In-Reply-To"] == answer.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode()
    assert "Which VPN client version?" in desk.relay.messages[-1].text


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
async def test_swaks_mail_with_template_answers_becomes_a_high_priority_ticket(
    desk: MailDesk,
) -> None:
    process = await asyncio.create_subprocess_exec(
        "swaks", "--server", "127.0.0.1", "--port", str(desk.channel.port),
        "--from", "carol@example.org", "--to", SUPPORT,
        "--header", "Subject: Laptop will not boot",
        "--body", "Impact: I can't work\nSince: 8:00 today\n\nIt shows a black screen.",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(30):
        output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    await desk.app.drain()
    [ticket] = await desk.app.list_tickets()
    assert (ticket["subject"], ticket["priority"]) == ("Laptop will not boot", "high")
    [ack] = await desk.relay.wait_for(1)
    assert ack.rcpt_tos == ["carol@example.org"]
    assert ack.message["Subject"] == "Re: [T-1] Laptop will not boot"


async def test_reply_without_in_reply_to_keeps_ticket_by_subject_tag(desk: MailDesk) -> None:
    await desk.customer_sends(mail("Printer jammed", "Floor 2 printer is jammed."))
    await desk.app.drain()
    # A client that drops In-Reply-To/References but keeps the [T-1] tag in the subject.
    await desk.customer_sends(mail("Re: [T-1] Printer jammed", "Still jammed after lunch."))
    # A new subject from the same person is a new problem.
    await desk.customer_sends(mail("Monitor flickers", "And my monitor flickers."))
    await desk.app.drain()
    tickets = await desk.app.list_tickets()
    assert [(t["ref"], t["subject"]) for t in tickets] == [
        ("T-1", "Printer jammed"),
        ("T-2", "Monitor flickers"),
    ]
    texts = [e["text"] for e in await desk.events(1) if e["kind"] == "customer_message"]
    assert texts == ["Floor 2 printer is jammed.", "Still jammed after lunch."]


async def test_follow_up_to_own_earlier_mail_joins_by_stored_message_id(desk: MailDesk) -> None:
    await desk.customer_sends(mail("Wiki down", "The wiki is down.", message_id="<w1@example.org>"))
    await desk.app.drain()
    # Ann answers her own first mail (not our acknowledgement) before she sees our answer.
    follow_up = mail(
        "Re: Wiki down", "Forgot: it says 502.", headers="In-Reply-To: <w1@example.org>\r\n"
    )
    await desk.customer_sends(follow_up)
    await desk.app.drain()
    assert len(await desk.app.list_tickets()) == 1
    texts = [e["text"] for e in await desk.events(1) if e["kind"] == "customer_message"]
    assert texts == ["The wiki is down.", "Forgot: it says 502."]


async def test_subject_tag_from_a_stranger_does_not_join_the_ticket(desk: MailDesk) -> None:
    await desk.customer_sends(mail("Laptop broken", "Screen cracked."))
    await desk.app.drain()
    stranger = "eve@example.net"
    await desk.customer_sends(mail("Re: [T-1] Laptop broken", "Me too", sender=stranger), stranger)
    await desk.app.drain()
    assert len(await desk.app.list_tickets()) == 2


async def test_bounce_of_our_ack_records_delivery_failed_and_is_not_answered(
    desk: MailDesk,
) -> None:
    await desk.customer_sends(mail("Account locked", "I cannot log in.", sender="bob@example.org"),
                              sender="bob@example.org")  # fmt: skip
    await desk.app.drain()
    [ack] = await desk.relay.wait_for(1)
    ack_id = ack.message["Message-ID"]
    bounce = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {SUPPORT}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.org>\r\nAuto-Submitted: auto-replied\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nbob@example.org: mailbox full\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; bob@example.org\r\n"
        "Action: failed\r\nStatus: 5.2.2\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {SUPPORT}\r\nTo: bob@example.org\r\nMessage-ID: {ack_id}\r\n"
        "Subject: Re: [T-1] Account locked\r\n--b--\r\n"
    ).encode()
    await desk.customer_sends(bounce, sender="")
    await desk.app.drain()

    assert len(await desk.app.list_tickets()) == 1
    failed = [e for e in await desk.events(1) if e["kind"] == "delivery_failed"]
    assert len(failed) == 1 and failed[0]["visibility"] == "internal"
    assert "delivery status report" in failed[0]["text"]
    assert len(desk.relay.messages) == 1, "nothing may answer a bounce"


async def test_out_of_office_reply_is_recorded_internally_and_never_answered(
    desk: MailDesk, clock: FakeClock
) -> None:
    await desk.customer_sends(mail("Need VPN access", "Please add me to the VPN group."))
    await desk.app.drain()
    [ack] = await desk.relay.wait_for(1)
    away = mail(
        "Automatic reply: Re: [T-1] Need VPN access",
        "I am out of the office until Monday.",
        headers=f"In-Reply-To: {ack.message['Message-ID']}\r\nAuto-Submitted: auto-replied\r\n",
    )
    await desk.customer_sends(away)
    await desk.app.drain()
    clock.advance(timedelta(minutes=5))
    await desk.app.drain()
    events = await desk.events(1)
    [recorded] = [e for e in events if e["kind"] == "auto_reply"]
    assert recorded["visibility"] == "internal"
    assert "out of the office" in recorded["text"]
    assert len(await desk.app.list_tickets()) == 1
    assert len(desk.relay.messages) == 1, "an auto-reply gets no answer"


async def test_oversize_and_unknown_recipient_are_refused_and_nothing_is_stored(
    desk: MailDesk,
) -> None:
    with pytest.raises(aiosmtplib.SMTPDataError) as too_big:
        await desk.customer_sends(mail("Logs", "x" * 70_000))
    assert too_big.value.code == 552

    def wrong_rcpt() -> dict[str, Any]:
        with smtplib.SMTP("127.0.0.1", desk.channel.port, timeout=10) as client:
            return client.sendmail("ann@example.org", ["sales@acme.test"], mail("Hi", "Hello"))

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await asyncio.to_thread(wrong_rcpt)
    assert refused.value.recipients["sales@acme.test"][0] == 550
    await desk.app.drain()
    assert await desk.app.list_tickets() == []
    async with desk.app.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(InboxRow)) == 0


async def test_relay_4xx_retries_through_the_outbox_and_5xx_marks_delivery_failed(
    desk: MailDesk, clock: FakeClock
) -> None:
    desk.relay.replies.append("451 4.3.0 Try again later")
    await desk.customer_sends(mail("Slow wiki", "The wiki is slow."))
    await desk.app.drain()
    assert desk.relay.messages == []
    clock.advance(timedelta(minutes=2))
    await desk.app.drain()
    [ack] = await desk.relay.wait_for(1)
    assert ack.message["Subject"] == "Re: [T-1] Slow wiki"

    desk.relay.replies.append("550 5.1.1 No such user")
    await desk.customer_sends(mail("Other", "Other problem", sender="gone@example.org"),
                              sender="gone@example.org")  # fmt: skip
    await desk.app.drain()
    failed = [e for e in await desk.events(2) if e["kind"] == "delivery_failed"]
    assert len(failed) == 1 and "550" in failed[0]["text"]

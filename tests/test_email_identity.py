"""Whose message is it: (sender, Message-ID) as its identity, text any database stores, and
subjects on one line. End to end through SMTP, the App and (when configured) PostgreSQL."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from channels.email.envelope import Envelope, frame
from channels.email.parse import ParseOptions, decode_payload
from channels.email.template import TemplateField
from core.channel import InboundMessage
from tests.test_email_app import SUPPORT, MailDesk, desk, mail

__all__ = ["desk"]  # the fixture, shared with the other end-to-end mail tests


async def test_another_senders_mail_with_the_same_message_id_gets_its_own_ticket(
    desk: MailDesk,
) -> None:
    ann_id = "<printer-1@mail.example.org>"
    ann = mail("Printer jammed", "The printer on floor 2 is jammed.", message_id=ann_id)
    await desk.customer_sends(ann)
    await desk.app.drain()
    # Eve's different mail carries Ann's Message-ID (a forged or broken client's id).
    eve = mail(
        "Password reset", "Please reset my password.",
        sender="Eve <eve@example.net>", message_id=ann_id,
    )  # fmt: skip
    assert (await desk.customer_sends(eve, "eve@example.net")).startswith("2.0.0")
    await desk.app.drain()

    tickets = await desk.app.list_tickets()
    assert [(t["ref"], t["subject"], t["requester"]["address"]) for t in tickets] == [
        ("T-1", "Printer jammed", "ann@example.org"),
        ("T-2", "Password reset", "eve@example.net"),
    ]
    acks = await desk.relay.wait_for(2)
    assert [ack.rcpt_tos for ack in acks] == [["ann@example.org"], ["eve@example.net"]]
    assert acks[1].message["In-Reply-To"] == ann_id  # Eve's client threads our answer
    eve_events = [e["text"] for e in await desk.events(2) if e["kind"] == "customer_message"]
    assert eve_events == ["Please reset my password."]

    # Ann's own copy of her mail, arriving again by another route, is still a duplicate.
    await desk.customer_sends(ann, "ann-bounces@lists.example.org")
    await desk.app.drain()
    assert len(await desk.app.list_tickets()) == 2
    ann_events = [e for e in await desk.events(1) if e["kind"] == "customer_message"]
    assert len(ann_events) == 1
    assert len(desk.relay.messages) == 2


async def test_a_colleagues_reply_all_to_the_original_mail_joins_its_ticket(
    desk: MailDesk,
) -> None:
    await desk.customer_sends(
        mail("Wiki down", "The wiki is down.", message_id="<wiki-1@mail.example.org>")
    )
    await desk.app.drain()
    # Bob was in Cc of Ann's mail and answers all, before our acknowledgement reaches him.
    bob = mail(
        "Re: Wiki down", "Same here, since 9:00.", sender="Bob <bob@example.org>",
        headers="Cc: Ann Example <ann@example.org>\r\nIn-Reply-To: <wiki-1@mail.example.org>\r\n",
    )  # fmt: skip
    await desk.customer_sends(bob, "bob@example.org")
    await desk.app.drain()
    assert len(await desk.app.list_tickets()) == 1
    texts = [e["text"] for e in await desk.events(1) if e["kind"] == "customer_message"]
    assert texts == ["The wiki is down.", "Same here, since 9:00."]


def _nul_mail() -> bytes:
    body = base64.encodebytes(b"Impact: Annoying\x00\r\nThe VPN\x00 drops.\r\n")
    return (
        b"From: =?utf-8?q?Ann=00_Example?= <ann@example.org>\r\nTo: support@acme.test\r\n"
        b"Subject: =?utf-8?q?VPN=00_drops?=\r\nMessage-ID: <nul-1@mail.example.org>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body + b"--b\r\n"
        b'Content-Type: application/octet-stream; name="log\x00.txt"\r\n'
        b'Content-Disposition: attachment; filename="=?utf-8?q?log=00=0D=0A.txt?="\r\n\r\n'
        b"\x00\x01\r\n--b--\r\n"
    )


def test_decoded_text_never_holds_what_postgresql_cannot_store() -> None:
    options = ParseOptions(template=(TemplateField("impact", "Impact", ("Annoying",)),))
    envelope = Envelope("ann@example.org", (SUPPORT,), datetime(2026, 11, 23, tzinfo=UTC))
    message = decode_payload(frame(envelope, _nul_mail()), options)
    assert isinstance(message, InboundMessage)
    assert message.subject == "VPN drops"
    assert message.sender.name == "Ann Example"
    assert message.text == "The VPN drops."
    assert dict(message.fields) == {"impact": "Annoying"}
    [attachment] = message.attachments
    assert attachment.name == "log .txt"
    texts = [message.subject, message.text, message.sender.name, message.note, attachment.name,
             *message.fields.values(), message.external_id, *message.related_keys]  # fmt: skip
    assert not any("\x00" in text for text in texts)


def test_undecodable_bytes_in_a_header_are_replaced_not_kept_as_surrogates() -> None:
    raw = (
        b"From: Ann \xff\xfe <ann@example.org>\r\nSubject: Caf\xe9 \xff menu\r\n"
        b"Message-ID: <s-1@mail.example.org>\r\n\r\nThe menu page is blank.\r\n"
    )
    envelope = Envelope("ann@example.org", (SUPPORT,))
    message = decode_payload(frame(envelope, raw), ParseOptions())
    assert isinstance(message, InboundMessage)
    for text in (message.subject, message.sender.name, message.text):
        text.encode("utf-8")  # no lone surrogate: it would not encode
    assert message.subject.startswith("Caf")


async def test_mail_with_nul_bytes_becomes_a_ticket_on_every_database(desk: MailDesk) -> None:
    assert (await desk.customer_sends(_nul_mail())).startswith("2.0.0")
    await desk.app.drain()
    [ticket] = await desk.app.list_tickets()
    assert ticket["subject"] == "VPN drops"
    [ack] = await desk.relay.wait_for(1)
    assert ack.rcpt_tos == ["ann@example.org"]
    texts = [e["text"] for e in await desk.events(1) if e["kind"] == "customer_message"]
    assert len(texts) == 1 and "The VPN drops." in texts[0] and "\x00" not in texts[0]


async def test_a_subject_with_line_breaks_is_stored_on_one_line(desk: MailDesk) -> None:
    folded = mail("=?utf-8?q?Printer=0D=0A_jammed=0Aagain?=", "Floor 2.")
    await desk.customer_sends(folded)
    await desk.app.drain()
    [ticket] = await desk.app.list_tickets()
    assert ticket["subject"] == "Printer jammed again"
    [ack] = await desk.relay.wait_for(1)
    assert ack.message["Subject"] == "Re: [T-1] Printer jammed again"

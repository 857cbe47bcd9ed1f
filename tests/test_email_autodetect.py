"""Loop protection: which mail is a person, and which a machine that must never be answered."""

from __future__ import annotations

import pytest

from channels.email.envelope import Envelope, frame
from channels.email.parse import ParseOptions, decode_payload
from core.channel import InboundKind, InboundMessage

OURS = ParseOptions(our_domains=frozenset({"acme.test"}), our_addresses=frozenset())


def classify(
    headers: str, body: str = "hello", mail_from: str = "ann@example.org"
) -> InboundMessage:
    raw = (headers.replace("\n", "\r\n") + "\r\n" + body).encode()
    result = decode_payload(frame(Envelope(mail_from, ("support@acme.test",)), raw), OURS)
    assert isinstance(result, InboundMessage)
    return result


PERSON = "From: Ann <ann@example.org>\nSubject: Help\n"

CASES = [
    # (headers, envelope sender, kind, words in the note)
    (PERSON, "ann@example.org", InboundKind.MESSAGE, ""),
    (PERSON + "Auto-Submitted: no\n", "ann@example.org", InboundKind.MESSAGE, ""),
    (PERSON + "Auto-Submitted: auto-replied\n", "ann@example.org", InboundKind.AUTO_REPLY,
     "Auto-Submitted"),
    (PERSON + "Auto-Submitted: auto-generated\n", "ann@example.org", InboundKind.AUTOMATED,
     "auto-generated"),
    (PERSON + "X-Autoreply: yes\n", "ann@example.org", InboundKind.AUTO_REPLY, "x-autoreply"),
    ("From: ann@example.org\nSubject: Out of Office: Help\n", "ann@example.org",
     InboundKind.AUTO_REPLY, "auto-reply subject"),
    ("From: ann@example.org\nSubject: Automatic reply: Help\n", "", InboundKind.AUTO_REPLY,
     "auto-reply subject"),
    (PERSON + "X-Apple-Action: VACATION\n", "ann@example.org", InboundKind.AUTO_REPLY, "VACATION"),
    (PERSON + "Precedence: bulk\n", "ann@example.org", InboundKind.AUTOMATED, "Precedence"),
    (PERSON + "Precedence: list\n", "ann@example.org", InboundKind.AUTOMATED, "Precedence"),
    # Outlook/Exchange also put this on mail people wrote: alone it never drops a new request,
    (PERSON + "X-Auto-Response-Suppress: All\n", "ann@example.org", InboundKind.MESSAGE, ""),
    # but on an answer to one of our messages it marks an auto-reply.
    (PERSON + "X-Auto-Response-Suppress: All\nIn-Reply-To: <t1@acme.test>\n", "ann@example.org",
     InboundKind.AUTO_REPLY, "X-Auto-Response-Suppress"),
    (PERSON + "List-Unsubscribe: <mailto:u@news.example>\n", "ann@example.org",
     InboundKind.AUTOMATED, "list-unsubscribe"),
    (PERSON, "", InboundKind.AUTOMATED, "null envelope sender"),
    ("From: no-reply@shop.example\nSubject: Your order\n", "bounce@shop.example",
     InboundKind.AUTOMATED, "no-reply sender"),
    ("From: Mail Delivery Subsystem <mailer-daemon@mx.example>\nSubject: Delivery Status "
     "Notification (Failure)\n", "", InboundKind.BOUNCE, "mail system"),
    ("From: postmaster@mx.example\nSubject: Undeliverable: Help\n", "", InboundKind.BOUNCE,
     "mail system"),
    (PERSON + "X-Failed-Recipients: bob@example.org\n", "", InboundKind.BOUNCE,
     "X-Failed-Recipients"),
    ("From: reports@mx.example\nSubject: Report\n"
     "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n",
     "", InboundKind.BOUNCE, "delivery status report"),
    ("From: abuse@isp.example\nSubject: FBL\n"
     "Content-Type: multipart/report; report-type=feedback-report; boundary=b\n",
     "abuse@isp.example", InboundKind.AUTOMATED, "feedback-report"),
    ("From: ann@example.org\nSubject: Read: Help\n"
     "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\n",
     "ann@example.org", InboundKind.AUTOMATED, "disposition-notification"),
]  # fmt: skip


@pytest.mark.parametrize(("headers", "mail_from", "kind", "note"), CASES)
def test_signal(headers: str, mail_from: str, kind: InboundKind, note: str) -> None:
    message = classify(headers, mail_from=mail_from)
    assert message.kind is kind, message.note
    assert note.lower() in message.note.lower()


def test_bounce_names_our_returned_message_ids_full_and_bare() -> None:
    message = classify(
        "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail Returned to Sender\n"
        "Message-ID: <bounce@mx.example.org>\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n',
        "--b\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n"
        "--b\r\nContent-Type: message/rfc822\r\n\r\n"
        "From: support@acme.test\r\nMessage-ID: <0a1b2c@acme.test>\r\n"
        "References: <customer-1@mail.example.org>\r\n\r\nYour ticket T-3\r\n--b--\r\n",
        mail_from="",
    )
    assert message.kind is InboundKind.BOUNCE
    assert message.bounced_keys == ("<0a1b2c@acme.test>", "0a1b2c")


def test_forwarded_bounce_text_with_report_fields_is_a_bounce() -> None:
    message = classify(
        "From: Ann <ann@example.org>\nSubject: Fwd: Returned mail: see transcript for details\n",
        "Begin forwarded message:\r\n> Final-Recipient: RFC822; bob@example.org\r\n"
        "> Action: failed\r\n> Message-Id: <beef@acme.test>\r\n",
    )
    assert message.kind is InboundKind.BOUNCE
    assert message.bounced_keys == ("<beef@acme.test>", "beef")


@pytest.mark.parametrize(
    "subject",
    ["Vacation days missing in the HR portal", "Out of office laptop will not boot",
     "Automatic replies are not working in Outlook", "Auto-renewal failed"],
)  # fmt: skip
def test_subjects_that_only_sound_automatic_are_people(subject: str) -> None:
    message = classify(f"From: Ann <ann@example.org>\nSubject: {subject}\n")
    assert message.kind is InboundKind.MESSAGE, message.note


def test_a_person_writing_about_a_failed_delivery_is_still_a_person() -> None:
    message = classify(
        PERSON.replace("Help", "My mail could not be delivered"),
        "Since this morning my mails to the bank bounce. What can I do?",
    )
    assert message.kind is InboundKind.MESSAGE

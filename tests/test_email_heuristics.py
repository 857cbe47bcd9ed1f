"""Machine mail without machine structure: worded bounces, gateway and -bounces senders,
Precedence: auto_reply, challenge-response mails. None opens a ticket or gets an answer; a
person writing about a delivery problem still does.

The measurement at the end strips the corpus's real bounces of everything structural (report
parts, headers, and even the sender) and counts how many are still recognised by their words.
"""

from __future__ import annotations

import re
from collections import Counter
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from channels.email.envelope import Envelope, frame
from channels.email.parse import ParseOptions, decode_payload
from core.channel import Ignored, InboundKind, InboundMessage
from tests.test_email_app import SUPPORT, MailDesk, desk, mail

__all__ = ["desk"]

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus" / "email"
OPTIONS = ParseOptions(our_domains=frozenset({"acme.test"}))


def kind_of(raw: bytes, mail_from: str) -> InboundKind | None:
    result = decode_payload(frame(Envelope(mail_from, (SUPPORT,)), raw), OPTIONS)
    assert isinstance(result, InboundMessage | Ignored)
    return result.kind if isinstance(result, InboundMessage) else None


def plain(sender: str, subject: str, body: str, headers: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
        f"Message-ID: <h-{abs(hash(subject + body))}@example.net>\r\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


GATEWAY_RETURNED = plain(
    "Mail Gateway <MAIL-GATEWAY@corp.example>", "Returned mail: see transcript for details",
    "The original message was received at Mon, 23 Nov 2026 09:00:00 +0100\r\n"
    "----- The following addresses had permanent fatal errors -----\r\n<bob@corp.example>\r\n",
)  # fmt: skip
LIST_BOUNCES = plain(
    "staff-bounces@lists.corp.example", "Delivery Failure",
    "Your message to staff@lists.corp.example could not be delivered.\r\n",
)  # fmt: skip
NEUTRAL_NOTICE = plain(
    "IT Notices <notices@corp.example>", "Delivery failure notification",
    "Your message could not be delivered to the following recipients:\r\n\r\n"
    "  carol@partner.example\r\n  Remote host said: 550 5.1.1 User unknown\r\n",
)  # fmt: skip
AUTO_REPLY_PRECEDENCE = plain(
    "Dan <dan@example.org>", "Re: VPN drops", "I read mail on Mondays only.",
    headers="Precedence: auto_reply\r\n",
)  # fmt: skip
TMDA_CHALLENGE = plain(
    "Frank <frank-confirm-1700000000.1234.abcd@example.org>", "Please confirm your message",
    "This message was created automatically by mail delivery software (TMDA).\r\n"
    "Your message attached below is being held because the address <support@acme.test>\r\n"
    "has not been verified. To release it, reply to this message.\r\n",
    headers="X-Delivery-Agent: TMDA/1.1.12\r\nX-TMDA-Fingerprint: abc\r\n",
)  # fmt: skip
HUMAN_CHECK = plain(
    "Gina's Spam Filter <gina@example.org>", "Please verify that you are a human",
    "Hi! I use challenge-response spam protection. Your message is being held until you\r\n"
    "click the link below to confirm that you are a human: https://verify.example/x\r\n",
)  # fmt: skip
SPAM_ARREST = plain(
    "Hal <hal@example.org>", "[SpamArrest] Sender verification",
    "To make sure your message is delivered, please visit the link below.\r\n",
)  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "sender", "kind"),
    [
        (GATEWAY_RETURNED, "MAIL-GATEWAY@corp.example", InboundKind.BOUNCE),
        (LIST_BOUNCES, "staff-bounces@lists.corp.example", InboundKind.BOUNCE),
        (NEUTRAL_NOTICE, "notices@corp.example", InboundKind.BOUNCE),
        (AUTO_REPLY_PRECEDENCE, "dan@example.org", InboundKind.AUTO_REPLY),
        (TMDA_CHALLENGE, "frank@example.org", InboundKind.AUTO_REPLY),
        (HUMAN_CHECK, "gina@example.org", InboundKind.AUTO_REPLY),
        (SPAM_ARREST, "hal@example.org", InboundKind.AUTO_REPLY),
        (plain("news-bounces@corp.example", "Weekly digest", "Hello all"),
         "news-bounces@corp.example", InboundKind.AUTOMATED),
    ],
    ids=["gateway", "list-bounces", "worded", "precedence", "tmda", "human-check",
         "spamarrest", "bounces-sender"],
)  # fmt: skip
def test_machine_mail_without_structure_is_told_apart(
    raw: bytes, sender: str, kind: InboundKind
) -> None:
    assert kind_of(raw, sender) is kind


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Delivery failure", "Every mail I send to bob@partner.example fails with 'user "
         "unknown', but he says his address is right. Can you look?"),
        ("Fwd: Undelivered Mail Returned to Sender", "Why does this happen?\r\n\r\n"
         "---------- Forwarded message ---------\r\nFrom: MAILER-DAEMON\r\n"
         "This is the mail system at host mx.acme.test.\r\n550 5.1.1 <bob@x>: User unknown"),
        ("Undeliverable emails since Monday", "Our newsletter could not be delivered to "
         "half of the list. What changed?"),
        ("Please confirm my order", "Please confirm the address you have on file for me."),
        ("Returned goods", "I returned the laptop; has it arrived?"),
    ],
)  # fmt: skip
def test_people_writing_about_delivery_problems_still_get_a_ticket(subject: str, body: str) -> None:
    raw = plain("Ann Example <ann@example.org>", subject, body)
    assert kind_of(raw, "ann@example.org") is InboundKind.MESSAGE


async def test_none_of_them_opens_a_ticket_or_gets_an_answer(desk: MailDesk) -> None:
    for raw in (GATEWAY_RETURNED, LIST_BOUNCES, NEUTRAL_NOTICE, AUTO_REPLY_PRECEDENCE,
                TMDA_CHALLENGE, HUMAN_CHECK, SPAM_ARREST):  # fmt: skip
        sender = re.search(rb"<([^>]+)>|From: (\S+)", raw)
        assert sender is not None
        address = (sender.group(1) or sender.group(2)).decode()
        assert (await desk.customer_sends(raw, address)).startswith("2.0.0")
    await desk.customer_sends(mail("VPN drops", "The VPN drops every 5 minutes."))
    await desk.app.drain()
    [ticket] = await desk.app.list_tickets()
    assert ticket["subject"] == "VPN drops"
    [ack] = await desk.relay.wait_for(1)
    assert ack.rcpt_tos == ["ann@example.org"]


# --- measured on the shared corpus -------------------------------------------------------


def _stripped(raw: bytes) -> bytes:
    """A bounce as a plain-text mail from an ordinary-looking address: only its subject and
    the words of its first text part are left."""
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    try:
        subject = " ".join(str(parsed["subject"] or "").split())
    except Exception:
        subject = ""
    text = ""
    for part in parsed.walk():
        if part.get_content_maintype() == "text":
            try:
                text = str(part.get_content())
            except Exception:
                text = str(part.get_payload())
            break
    return plain("IT Notices <notices@corp.example>", subject, text)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/email is absent")
def test_corpus_bounces_stripped_of_their_structure_are_still_recognised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bounces = sorted(
        path for path in (CORPUS / "auto").glob("*.eml")
        if path.name.startswith(("lhost-", "rfc3464-"))
    )  # fmt: skip
    counts = Counter(kind_of(_stripped(p.read_bytes()), "notices@corp.example") for p in bounces)
    people = Counter(
        kind_of(p.read_bytes(), "x@example.org")
        for folder in ("human", "edge")
        for p in sorted((CORPUS / folder).glob("*.eml"))
    )
    recognised = len(bounces) - counts[InboundKind.MESSAGE]
    with capsys.disabled():
        print(
            f"\ncorpus bounces stripped to subject and text: {recognised} of {len(bounces)} "
            f"recognised ({dict(counts)}); human+edge mail: {dict(people)}"
        )
    assert recognised >= 0.65 * len(bounces)
    assert people[InboundKind.AUTO_REPLY] == 0
    assert people[InboundKind.BOUNCE] <= 1  # the one human/ file with Auto-Submitted (see there)

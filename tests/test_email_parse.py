"""decode(): raw mail as customers' clients write it -> what the core sees."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email.envelope import Envelope, dedup_key, frame, normalize_id, scan_message_id
from channels.email.parse import ParseOptions, decode_payload
from core.channel import Ignored, InboundKind, InboundMessage

OURS = ParseOptions(
    our_domains=frozenset({"acme.test"}),
    our_addresses=frozenset({"support@acme.test"}),
)


def decode(
    raw: bytes, mail_from: str = "ann@example.org", options: ParseOptions = OURS
) -> InboundMessage:
    when = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    result = decode_payload(frame(Envelope(mail_from, ("support@acme.test",), when), raw), options)
    assert isinstance(result, InboundMessage), result
    return result


def test_plain_message_gives_sender_subject_text_and_reply_target() -> None:
    message = decode(
        b"From: Ann Example <Ann@Example.org>\r\nTo: support@acme.test\r\n"
        b"Subject: VPN drops\r\nMessage-ID: <a1@mail.example.org>\r\n\r\n"
        b"The VPN drops every five minutes.\r\n"
    )
    assert message.kind is InboundKind.MESSAGE
    assert (message.sender.address, message.sender.name) == ("ann@example.org", "Ann Example")
    assert message.subject == "VPN drops"
    assert message.text == "The VPN drops every five minutes."
    # Known by sender and Message-ID together; the id itself reads back out for In-Reply-To.
    assert message.external_id == "ann@example.org|<a1@mail.example.org>"
    assert normalize_id(message.external_id) == "<a1@mail.example.org>"
    assert message.reply_target.address == "ann@example.org"
    assert message.reply_target.thread == "<a1@mail.example.org>"
    assert message.received_at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert message.ticket_hint is None and message.thread_keys == ()


def test_reply_to_decides_where_we_answer() -> None:
    message = decode(
        b"From: Web form <noreply@forms.example.org>\r\nReply-To: Bob <bob@example.org>\r\n"
        b"Subject: Contact form\r\n\r\nMy order never arrived.\r\n"
    )
    assert message.kind is InboundKind.MESSAGE, "a Reply-To a person reads makes it a person's mail"
    assert message.reply_target.address == "bob@example.org"


def test_threading_keys_ours_first_then_others_and_the_subject_tag() -> None:
    message = decode(
        b"From: ann@example.org\r\nSubject: Re: [T-42] VPN drops\r\n"
        b"Message-ID: <a3@mail.example.org>\r\n"
        b"In-Reply-To: <f00d@acme.test>\r\n"
        b"References: <a1@mail.example.org>\r\n <beef@acme.test>\r\n\t<f00d@acme.test>\r\n\r\n"
        b"Thanks\r\n"
    )
    assert message.thread_keys == ("<f00d@acme.test>", "f00d", "<beef@acme.test>", "beef")
    # The earlier id bare (older rows) and as the sender's own message (how it is keyed now).
    assert message.related_keys == (
        "<a1@mail.example.org>",
        "ann@example.org|<a1@mail.example.org>",
    )
    assert message.ticket_hint == 42
    assert message.reply_target.thread == "<a1@mail.example.org>"


def test_encoded_word_subject_and_latin1_body_are_decoded() -> None:
    message = decode(
        b"From: =?iso-8859-1?q?J=FCrgen_M=FCller?= <jm@example.de>\r\n"
        b"Subject: =?utf-8?b?" + base64.b64encode("Drucker druckt nur Grüße".encode()) + b"?=\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "Der Drucker im 2. Stock druckt nur Kästchen.".encode("latin-1")
    )
    assert message.subject == "Drucker druckt nur Grüße"
    assert message.sender.name == "Jürgen Müller"
    assert message.text == "Der Drucker im 2. Stock druckt nur Kästchen."


def test_unknown_charset_and_raw_8bit_headers_fall_back_gracefully() -> None:
    message = decode(
        "From: ann@example.org\r\nSubject: Caf\xe9 wifi\r\n".encode("latin-1")
        + b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
        + "Caf\u00e9 wifi is down \u2013 again".encode()
    )
    assert message.subject == "Café wifi"
    assert message.text == "Café wifi is down – again"


def test_html_only_mail_is_converted_to_readable_text() -> None:
    message = decode(
        b"From: ann@example.org\r\nSubject: Screenshot\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"\r\n<html><head><style>p {color: red}</style></head><body><p>Hello &amp; thanks,</p>"
        b"<p>the <b>portal</b> shows<br>error 500.</p>"
        b'<div class="gmail_quote">On Mon, Support wrote:<blockquote>old text</blockquote></div>'
        b"</body></html>"
    )
    assert message.text == "Hello & thanks,\n\nthe portal shows\nerror 500."


def test_alternative_prefers_plain_and_strips_quote_and_signature() -> None:
    message = decode(
        b"From: ann@example.org\r\nSubject: Re: [T-7] Printer\r\n"
        b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Still broken, sorry.\r\n\r\n-- \r\nAnn Example\r\nACME Ltd\r\n\r\n"
        b"On Mon, 23 Nov 2026 at 09:00, Support <support@acme.test> wrote:\r\n> We are on it.\r\n"
        b"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML version</p>\r\n"
        b"--alt--\r\n"
    )
    assert message.text == "Still broken, sorry."


def test_attachments_are_recorded_and_stored(tmp_path: Path) -> None:
    options = ParseOptions(our_domains=frozenset({"acme.test"}), attachments_dir=str(tmp_path))
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    message = decode(
        b"From: ann@example.org\r\nSubject: Error screenshot\r\n"
        b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n'
        b"--m\r\nContent-Type: text/plain\r\n\r\nSee the screenshot.\r\n"
        b"--m\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="../../error screen.png"\r\n\r\n'
        + base64.encodebytes(png)
        + b"--m--\r\n",
        options=options,
    )
    [attachment] = message.attachments
    assert (attachment.name, attachment.content_type, attachment.size) == (
        "../../error screen.png", "image/png", len(png)
    )  # fmt: skip
    stored = Path(attachment.stored_at)
    assert stored.read_bytes() == png
    assert tmp_path in stored.parents, "a hostile file name must not escape attachments_dir"
    assert message.text == "See the screenshot."


def test_mail_without_message_id_gets_a_content_hash_id() -> None:
    raw = b"From: ann@example.org\r\nSubject: no id\r\n\r\nhello\r\n"
    message = decode(raw)
    assert message.external_id.startswith("sha256:")
    assert dedup_key("ann@example.org", raw) == f"ann@example.org|{message.external_id}"


def test_message_id_scan_reads_folded_headers_only() -> None:
    raw = b"Subject: x\r\nMessage-ID:\r\n <folded@example.org>\r\n\r\nMessage-ID: <body@x>\r\n"
    assert scan_message_id(raw) == "<folded@example.org>"
    assert scan_message_id(b"Subject: none\r\n\r\nMessage-ID: <body@x>\r\n") == ""


def test_mail_from_our_own_address_is_a_loop_not_a_ticket() -> None:
    message = decode(b"From: support@acme.test\r\nSubject: Re: [T-1] x\r\n\r\nhello\r\n")
    assert message.kind is InboundKind.AUTOMATED
    assert "our own" in message.note


def test_no_sender_anywhere_is_a_recorded_rejection() -> None:
    result = decode_payload(frame(Envelope("", ()), b"Subject: who?\r\n\r\nhello\r\n"), OURS)
    assert isinstance(result, Ignored) and "no sender" in result.reason


def test_null_envelope_sender_without_other_signals_is_machine_mail() -> None:
    message = decode(b"Subject: Your report\r\n\r\nnightly job finished\r\n", mail_from="")
    assert message.kind is InboundKind.AUTOMATED
    assert "null envelope sender" in message.note


def test_unframed_or_garbage_payload_never_raises() -> None:
    for payload in (b"", b"TIDINGS-EMAIL/1 {not json\n", b"\x00\xff" * 50, b"TIDINGS-EMAIL/1 "):
        assert isinstance(decode_payload(payload, OURS), Ignored | InboundMessage)


_header_names = st.sampled_from(
    ["From", "To", "Subject", "Content-Type", "Content-Transfer-Encoding", "Message-ID",
     "In-Reply-To", "References", "Reply-To", "Auto-Submitted", "Content-Disposition"]
)  # fmt: skip
_junk = st.binary(max_size=200) | st.text(max_size=120).map(str.encode)
_mime_bits = st.sampled_from(
    [b"multipart/mixed; boundary=x", b"multipart/report; report-type=delivery-status",
     b"text/plain; charset=\"x-bogus\"", b"=?utf-8?b?////?=", b"=?unknown?q?=ZZ?=", b"base64",
     b"message/rfc822", b"--x\r\n", b"--x--", b"<a@b>", b"\"\" <@>", b"text/html", b"<<>>"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=st.lists(st.tuples(_header_names, _mime_bits | _junk), max_size=8),
    body=st.lists(_mime_bits | _junk, max_size=10),
    mail_from=st.sampled_from(["", "ann@example.org"]),
)
def test_malformed_mime_never_raises_and_always_ends_somewhere(
    headers: list[tuple[str, bytes]], body: list[bytes], mail_from: str
) -> None:
    raw = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers)
    raw += b"\r\n" + b"\r\n".join(body)
    result = decode_payload(frame(Envelope(mail_from, ("support@acme.test",)), raw), OURS)
    # Every input ends as something the core records: a message (ticket or loop-protected
    # record) or an explicit rejection with a reason.
    if isinstance(result, InboundMessage):
        assert result.sender.address or result.kind is not InboundKind.MESSAGE
        assert result.text
        assert len(result.external_id) <= 500
    else:
        assert isinstance(result, Ignored) and result.reason


def test_intake_template_lines_fill_fields_and_priority() -> None:
    from channels.email.channel import parse_options
    from core.config import load_settings

    options = parse_options(load_settings(None))
    message = decode(
        b"From: ann@example.org\r\nSubject: VPN\r\n\r\n"
        b"Impact: i can't work\r\nSince: this morning, laptop only\r\n\r\n"
        b"The VPN drops every five minutes.\r\nImpact: (a later line is just text)\r\n",
        options=options,
    )
    assert message.fields == {"impact": "I can't work", "since": "this morning, laptop only"}
    assert message.priority == "high"
    assert message.text == "The VPN drops every five minutes.\nImpact: (a later line is just text)"


def test_template_answer_outside_the_choices_stays_text_and_replies_are_not_forms() -> None:
    from channels.email.channel import parse_options
    from core.config import load_settings

    options = parse_options(load_settings(None, email={"from_address": "support@acme.test"}))
    unknown = decode(b"From: a@example.org\r\nSubject: x\r\n\r\nImpact: catastrophic\r\n",
                     options=options)  # fmt: skip
    assert unknown.fields == {} and unknown.priority is None
    assert unknown.text == "Impact: catastrophic"
    reply = decode(
        b"From: a@example.org\r\nSubject: Re: [T-1] x\r\nIn-Reply-To: <t1@acme.test>\r\n\r\n"
        b"Impact: Just annoying\r\n",
        options=options,
    )
    assert reply.fields == {} and reply.text == "Impact: Just annoying"


def test_oversized_names_and_addresses_fit_the_columns() -> None:
    long_name = "N" * 400
    message = decode(
        f'From: "{long_name}" <ann@example.org>\r\nReply-To: {"x" * 300}@example.org\r\n'
        f"Subject: long\r\n"
        f'Content-Type: multipart/mixed; boundary="m"\r\n\r\n'
        f"--m\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        f'--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="'
        f'{"f" * 600}.pdf"\r\n\r\n%PDF\r\n--m--\r\n'.encode()
    )
    assert len(message.sender.name) == 200 and message.sender.address == "ann@example.org"
    assert message.reply_target.address == "ann@example.org", "an impossible Reply-To is ignored"
    [attachment] = message.attachments
    assert len(attachment.name) == 255

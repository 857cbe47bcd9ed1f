"""Hostile mail: every pattern that reads customer text, fed the input that makes it backtrack.

Each case is a message (or a chat text) built to make a careless regular expression rescan
a long run from every position in it; each must still decode to the right result. The
timeout is generous: these inputs took from seconds to minutes before the patterns were
rewritten, and take milliseconds now. The `thread` method fires even while the interpreter is
stuck inside the regex engine.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest
from aiosmtpd.smtp import SMTP

from channels.discord.translate import command_words
from channels.email.envelope import Envelope, frame, normalize_id
from channels.email.html import html_to_text
from channels.email.outbound import reply_subject
from channels.email.parse import ParseOptions, decode_payload
from channels.email.quotes import MAX_LINE, strip_reply
from channels.email.server import IntakeHandler, TidingsSMTP
from channels.email.template import TemplateField
from channels.slack.markup import ticket_hint, to_plain
from core.channel import InboundMessage
from tests.test_email_app import MailDesk, desk
from tests.test_email_app import mail as app_mail

__all__ = ["desk"]  # the end-to-end fixture

pytestmark = pytest.mark.timeout(30, method="thread")

RUN = 100_000  # long enough that a quadratic pattern takes minutes on it
BODY_RUN = 60_000  # the same for a body line, within the 100,000 characters of text kept
TEMPLATE = (
    TemplateField("impact", "Impact", ("I can't work", "Annoying")),
    TemplateField("since", "Since"),
)
OPTIONS = ParseOptions(
    our_domains=frozenset({"acme.test"}),
    our_addresses=frozenset({"support@acme.test"}),
    template=TEMPLATE,
    impact_priority={"I can't work": "urgent"},
)


def decode(raw: bytes) -> InboundMessage:
    when = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    payload = frame(Envelope("ann@example.org", ("support@acme.test",), when), raw)
    result = decode_payload(payload, OPTIONS)
    assert isinstance(result, InboundMessage), result
    return result


def mail(body: bytes, *, headers: bytes = b"", base64_body: bool = False) -> bytes:
    encoding = b"Content-Transfer-Encoding: base64\r\n" if base64_body else b""
    return (
        b"From: Ann Example <ann@example.org>\r\nTo: support@acme.test\r\n"
        b"Message-ID: <hostile-1@example.org>\r\n" + headers + b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n" + encoding + b"\r\n"
        + (base64.encodebytes(body) if base64_body else body)
    )  # fmt: skip


def with_subject(body: bytes, subject: bytes = b"Printer jammed") -> bytes:
    return mail(body, headers=b"Subject: " + subject + b"\r\n")


def test_the_issue_mail_a_base64_line_of_30000_spaces_decodes_at_once() -> None:
    """The mail from the report: a base64 text body whose second line is 30,000 spaces, x."""
    body = b"Impact: I can't work\r\n" + b" " * 30_000 + b"x\r\n"
    message = decode(mail(body, headers=b"Subject: VPN down\r\n", base64_body=True))
    assert message.fields == {"impact": "I can't work"}
    assert message.priority == "urgent"
    assert message.subject == "VPN down"
    assert message.text == "x"


async def test_the_issue_mail_through_smtp_opens_its_ticket_and_the_next_one_follows(
    desk: MailDesk,
) -> None:
    body = base64.encodebytes(b"Impact: I can't work\r\n" + b" " * 30_000 + b"x\r\n")
    hostile = mail(b"", headers=b"Subject: VPN down\r\n", base64_body=True) + body
    assert (await desk.customer_sends(hostile)).startswith("2.0.0")
    await desk.customer_sends(app_mail("Printer jammed", "Floor 2.", sender="bob@example.org"))
    await desk.app.drain()
    tickets = await desk.app.list_tickets()
    assert [(t["subject"], t["priority"]) for t in tickets] == [
        ("VPN down", "high"),  # the default impact_priority of "I can't work"
        ("Printer jammed", "normal"),
    ]
    assert len(await desk.relay.wait_for(2)) == 2


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        (b"Since: this morning" + b" " * BODY_RUN + b"really\r\n",
         {"since": "this morning" + " " * BODY_RUN + "really"}),
        (b" " * BODY_RUN + b":x\r\n", {}),
        (b"Impact" + b" " * BODY_RUN + b": Annoying\r\n", {"impact": "Annoying"}),
        (b":" * BODY_RUN + b"\r\n", {}),
        (b"Since" + b":" * BODY_RUN + b"x\r\n", {"since": ":" * (BODY_RUN - 1) + "x"}),
    ],
)  # fmt: skip
def test_template_answer_lines_with_long_runs(line: bytes, fields: dict[str, str]) -> None:
    message = decode(with_subject(line + b"The printer on floor 2 is jammed.\r\n"))
    assert dict(message.fields) == fields
    assert message.text.endswith("The printer on floor 2 is jammed.")


@pytest.mark.parametrize(
    "hostile",
    [
        "On " + " " * RUN + "x",
        "On Monday Ann wrote:" + " " * RUN + "x",
        "Am " + "a" * RUN + " schrieb",
        "-" * RUN + "x",
        "--" + " " * RUN + "Original Message" + " " * RUN + "x",
        "_" * RUN + "x",
        "a" * RUN + " wrote" + " " * RUN + ":x",
        "From:" + " " * RUN,
        " " * RUN + ">",
        "Sent from my " + "x" * RUN,
    ],
)
def test_reply_header_patterns_on_long_lines(hostile: str) -> None:
    written = f"Still broken.\n{hostile}\nSecond line.\n\nOn Mon, Support wrote:\n> old"
    assert strip_reply(written) == f"Still broken.\n{hostile}\nSecond line."


def test_a_real_reply_header_still_cuts_after_hostile_lines() -> None:
    text = "Thanks!\n" + " " * RUN + "\nOn Tue, 24 Nov 2026, Support <s@acme.test> wrote:\n> hi"
    assert strip_reply(text) == "Thanks!"


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<a" * RUN, "<a" * RUN),
        ("<p>hi</p>" + "<!-- >" * RUN, "hi\n\n" + "<!-- >" * RUN),
        ("<p>hi</p>" + "<!--" * RUN, "hi\n\n" + "<!--" * RUN),
        ("<p>hi</p>" + "<![CDATA[ >" * RUN, "hi\n\n" + "<![CDATA[ >" * RUN),
        ("<p>hi</p>" + "<" * RUN, "hi\n\n" + "<" * RUN),
        ("<p>" + " " * RUN + "x</p>", "x"),
    ],
)
def test_html_that_never_closes_its_tags(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_html_line_of_many_links_shows_each_address_once() -> None:
    line = '<a href="https://x.example/y">see</a> ' * 20_000
    assert html_to_text(f"<p>{line}</p>") == " ".join(["see (https://x.example/y)"] * 20_000)
    same = '<a href="https://x.example/y">https://x.example/y</a> ' * 20_000
    assert html_to_text(f"<p>{same}</p>") == " ".join(["https://x.example/y"] * 20_000)


def test_html_body_of_unclosed_tags_decodes_to_a_ticket() -> None:
    raw = mail(b"<a" * RUN).replace(b"text/plain", b"text/html")
    message = decode(raw)
    assert message.text.startswith("<a<a<a")


@pytest.mark.parametrize(
    ("header", "subject"),
    [
        # (Only the first 16 KB of a header is read.)
        (b"Subject: Printer" + b" " * RUN + b"jammed\r\n", "Printer"),
        (b"Subject: =?utf-8?q?Printer?= " + b"=?x?q?" * RUN + b"\r\n", None),
        (b"Subject: Printer\r\n" + b" " * 10_000 + b"\r\n jammed\r\n", "Printer jammed"),
        (b"Subject: Printer" + b" " * 10_000 + b"jammed\r\n", "Printer" + " " * 10_000 + "jammed"),
    ],
)
def test_subject_headers_with_long_runs(header: bytes, subject: str | None) -> None:
    message = decode(mail(b"Hello\r\n", headers=header))
    if subject is None:
        assert message.subject.startswith("Printer")
    else:
        assert message.subject == subject[:500]


@pytest.mark.parametrize(
    "header",
    [
        b"In-Reply-To: @" + b"a" * RUN + b"\r\n",
        b"References: " + b"a" * RUN + b"\r\n",
        b"References: " + b"<a@b> " * RUN + b"\r\n",
        b"Content-Disposition: inline; " + b'filename*0="a";' * RUN + b"\r\n",
        b"Reply-To: " + b"<" * RUN + b"\r\n",
        b"Cc: " + b"a@b," * RUN + b"\r\n",
    ],
)
def test_id_and_address_headers_with_long_runs(header: bytes) -> None:
    message = decode(mail(b"The printer is jammed.\r\n", headers=header))
    assert message.text == "The printer is jammed."
    assert message.sender.address == "ann@example.org"


def test_content_type_of_many_semicolons_is_read_as_text() -> None:
    raw = mail(b"The printer is jammed.\r\n").replace(
        b"charset=utf-8", b"charset=utf-8" + b";" * (10 * RUN)
    )
    assert decode(raw).text == "The printer is jammed."


def test_bare_message_id_scan_of_a_long_word_without_at() -> None:
    assert normalize_id("x" * RUN) == ""
    assert normalize_id("@" + "a" * RUN) == ""
    assert normalize_id("a" * RUN + "@host") == f"<{'a' * RUN}@host>"


def test_smtp_path_followed_by_spaces_and_a_parenthesis() -> None:
    server = TidingsSMTP(IntakeHandler(lambda address: True, 1000), max_bytes=1000)
    hostile = "<ann@example.org>" + " " * RUN + "("
    assert server._getaddr(hostile) == SMTP._getaddr(server, hostile)
    assert server._getaddr("<ann@example.org> SIZE=10") == ("ann@example.org", "SIZE=10")


def test_reply_subject_of_a_prefix_and_a_long_run_of_spaces() -> None:
    assert reply_subject("T-4", "Re" + " " * RUN + "x") == "Re: [T-4] Re x"
    assert reply_subject("T-4", "Re: " * RUN + "VPN") == "Re: [T-4] VPN"


def test_slack_text_with_unclosed_mentions_and_tags() -> None:
    hostile = "<@U1|" * RUN
    assert to_plain(hostile, strip_user="U1") == hostile
    assert ticket_hint("[T-" + "1" * RUN) is None
    assert to_plain("<" * RUN + "x") == "<" * RUN + "x"


def test_discord_wait_option_with_long_runs_of_quotes_and_spaces() -> None:
    what = "\" '" * RUN
    words = command_words("wait", {"ticket": "T-1", "what": what, "text": "soon"})
    assert words.startswith("wait T-1 ") and words.endswith(" soon")


def _patterns() -> list[tuple[str, re.Pattern[str] | re.Pattern[bytes]]]:
    """Every compiled pattern at module level in the code that reads customer text."""
    import channels.discord.translate
    import channels.email.autodetect
    import channels.email.envelope
    import channels.email.heuristics
    import channels.email.html
    import channels.email.mime
    import channels.email.outbound
    import channels.email.parse
    import channels.email.quotes
    import channels.email.server
    import channels.email.template
    import channels.slack.markup

    modules = [channels.email.autodetect, channels.email.envelope, channels.email.heuristics,
               channels.email.html, channels.email.mime, channels.email.outbound,
               channels.email.parse, channels.email.quotes, channels.email.server,
               channels.email.template, channels.slack.markup,
               channels.discord.translate]  # fmt: skip
    return [
        (f"{module.__name__.rpartition('.')[2]}.{name}", value)
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, re.Pattern)
    ]


# Runs of the characters these patterns repeat over, alone and next to each other.
_PIECES = [" ", "\t", "\n", "\r\n", "<", ">", "@", "-", "_", ":", "[", "]", "=?", "a", "1",
           ".", "> ", " -", "a@", "<a", "a ", "\n ", "T-", "Re ", "--", "5.1.", "on "]  # fmt: skip
_HOSTILE = [piece * (20_000 // len(piece)) + tail for piece in _PIECES for tail in ("", "x", "(")]


# Patterns the code only ever anchors at the start (`match`), and patterns only ever given one
# stripped line of at most MAX_LINE characters (two, joined, for a wrapped attribution).
_ANCHORED = {"server._PLAIN_PATH"}
_ONE_LINE = 2 * MAX_LINE + 1


@pytest.mark.parametrize(("name", "pattern"), _patterns(), ids=lambda value: str(value)[:40])
def test_every_pattern_reading_customer_text_is_linear_on_long_runs(
    name: str, pattern: re.Pattern[str] | re.Pattern[bytes]
) -> None:
    """search, match and fullmatch on long runs of each separator, as the code uses the
    pattern: none may backtrack."""
    for text in _HOSTILE:
        if name.startswith("quotes."):
            text = text[:_ONE_LINE]
        subject: str | bytes = text.encode() if isinstance(pattern.pattern, bytes) else text
        if name not in _ANCHORED:
            pattern.search(subject)  # type: ignore[arg-type]
        pattern.match(subject)  # type: ignore[arg-type]
        pattern.fullmatch(subject)  # type: ignore[arg-type]

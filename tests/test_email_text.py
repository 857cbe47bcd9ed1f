"""What the agent reads: quoted history and signatures removed, HTML made readable."""

from __future__ import annotations

import pytest

from channels.email.html import html_to_text
from channels.email.quotes import strip_reply


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("Thanks, works now!\n\nOn Tue, 24 Nov 2026 at 10:00, Support <support@acme.test> wrote:\n"
         "> Please restart.\n> \n> T-4", "Thanks, works now!"),
        ("Thanks!\n\nOn Tue, 24 Nov 2026 at 10:00, Support Desk\n<support@acme.test> wrote:\n"
         "> Please restart.", "Thanks!"),
        ("Danke!\n\nAm 24.11.2026 um 10:00 schrieb Support <support@acme.test>:\n> Hallo",
         "Danke!"),
        ("Merci.\n\nLe mar. 24 nov. 2026 à 10:00, Support <support@acme.test> a écrit :\n> x",
         "Merci."),
        ("Still broken.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nold",
         "Still broken."),
        ("Still broken.\n\n________________________________\nFrom: Support <s@acme.test>\n"
         "Sent: Monday, 23 November 2026 09:00\nTo: Ann\nSubject: Re: [T-4] VPN\n\nold",
         "Still broken."),
        ("Still broken.\n\nFrom: Support <s@acme.test>\nSent: Monday\nTo: Ann\n"
         "Subject: Re: [T-4] VPN\n\nold", "Still broken."),
        ("Fixed, thanks.\n\nAnn\n-- \nAnn Example\nACME Ltd | +1 555 0100",
         "Fixed, thanks.\n\nAnn"),
        ("Fixed, thanks.\n\nSent from my iPhone", "Fixed, thanks."),
        ("> what version?\n2.4.1\n> and the OS?\nWindows 11", "> what version?\n2.4.1\n"
         "> and the OS?\nWindows 11"),
        ("Here is what the error wrote: disk full.\nPlease help.",
         "Here is what the error wrote: disk full.\nPlease help."),
        ("> all of it is a quote\n> nothing new", "> all of it is a quote\n> nothing new"),
        ("line one\r\nline two\r\n", "line one\nline two"),
    ],
)  # fmt: skip
def test_strip_reply(written: str, kept: str) -> None:
    assert strip_reply(written) == kept


def test_html_to_text_keeps_structure_links_and_drops_scripts() -> None:
    markup = (
        "<html><head><title>t</title><script>alert(1)</script></head><body>"
        "<h1>Order&nbsp;#42</h1><p>Line one<br/>Line two</p>"
        "<ul><li>first</li><li>second</li></ul>"
        '<p>See <a href="https://status.example/x">the status page</a>.</p>'
        "<table><tr><td>a</td><td>b</td></tr></table></body></html>"
    )
    assert html_to_text(markup) == (
        "Order #42\n\nLine one\nLine two\n\n- first\n- second\n\n"
        "See the status page (https://status.example/x).\n\na b"
    )


def test_html_quote_becomes_a_quote_and_is_stripped() -> None:
    text = html_to_text(
        "<div>New answer</div><div class=gmail_quote>On Mon, Support &lt;s@acme.test&gt; wrote:"
        "<blockquote><p>Old text</p></blockquote></div>"
    )
    assert "> Old text" in text
    assert strip_reply(text) == "New answer"


def test_broken_html_still_gives_text() -> None:
    assert html_to_text("<p>unclosed <b>bold <i>and <div>mess") == "unclosed bold and\nmess"
    assert html_to_text("") == ""

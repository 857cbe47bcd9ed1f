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


OUTLOOK_REPLY = (
    "<html><body><div class=WordSection1><p class=MsoNormal>Still not working after the restart."
    "<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p><p class=MsoNormal>Regards,<br>Ann"
    "<o:p></o:p></p><div><div style='border:none;border-top:solid #E1E1E1 1.0pt'>"
    "<p class=MsoNormal><b>From:</b> Support &lt;support@acme.test&gt; <br><b>Sent:</b> Monday, "
    "November 23, 2026 9:00 AM<br><b>To:</b> Ann Example &lt;ann@example.org&gt;<br>"
    "<b>Subject:</b> Re: [T-4] VPN drops<o:p></o:p></p></div></div>"
    "<p class=MsoNormal>Hello Ann, we logged T-4.<o:p></o:p></p></div></body></html>"
)
GMAIL_REPLY = (
    '<div dir="ltr">Thanks, it works now!</div><br><div class="gmail_quote">'
    '<div dir="ltr" class="gmail_attr">On Mon, Nov 23, 2026 at 9:00 AM Support &lt;'
    '<a href="mailto:support@acme.test">support@acme.test</a>&gt; wrote:<br></div>'
    '<blockquote class="gmail_quote" style="margin:0px">Hello Ann,<br>we logged T-4.'
    "</blockquote></div>"
)


@pytest.mark.parametrize(
    ("markup", "kept"),
    [(OUTLOOK_REPLY, "Still not working after the restart.\n\nRegards,\nAnn"),
     (GMAIL_REPLY, "Thanks, it works now!")],
)  # fmt: skip
def test_html_replies_from_outlook_and_gmail_keep_only_the_new_text(markup: str, kept: str) -> None:
    assert strip_reply(html_to_text(markup)) == kept

"""A customer's thank-you on a resolved ticket is recorded, not a reason to reopen it.

The classifier is conservative: these tests are the phrasings it must accept, and the many
that look like thanks but report a problem or ask something, which must still reopen."""

from __future__ import annotations

import pytest

from core.intake.thanks import is_thanks

THANK_YOUS = [
    "Thanks, all good now!",
    "thanks",
    "Thank you!",
    "Thank you so much, it works again.",
    "Thanks a lot, works like a charm",
    "Many thanks for the quick fix!",
    "Cheers, that did the trick",
    "thx, sorted",
    "Perfect, thanks!",
    "Great, thank you very much. Have a nice day!",
    "Hi Alice,\n\nthanks, everything is working now.\n\nBest regards,\nCarol",
    "Thanks!\n\nCarol",
    "Thanks for your help, you can close it.",
    "Thank you! It's fixed on my end.",
    "Danke, jetzt geht es wieder!",
    "Vielen Dank, alles gut.",
    "Merci beaucoup, ça marche maintenant.",
    "Merci, c'est parfait",
    "¡Muchas gracias, ya funciona!",
    "Grazie mille, tutto a posto",
    "Bedankt, het werkt weer",
    "Obrigado, agora funciona",
    "Tack så mycket, det fungerar nu",
    "Спасибо!",
    "ありがとうございます",
    "Thanks 🙏",
    "Thanks!\n\n> On Mon, 23 Nov 2026, Support wrote:\n> We have marked T-2 as resolved.",
]

NOT_THANK_YOUS = [
    "thanks, but it broke again",
    "thanks? still down",
    "Thanks. Still down for me.",
    "Thank you, but the printer jams again",
    "Thanks, is it fixed for everyone",
    "Thanks! Can you also reset my password",
    "Thanks, however it stopped working this morning",
    "Thanks for the fix. Error 500 on the portal now.",
    "Thanks, not fixed",
    "Thanks, it doesn't work",
    "Thanks, the VPN drops again",
    "thanks, why did it break?",
    "How do I export the invoices? Thanks",
    "Danke, aber es geht immer noch nicht",
    "Merci, mais ça ne marche pas",
    "Gracias, pero sigue sin funcionar",
    "Grazie, ma non funziona ancora",
    "All good now",  # no thanks word: still a message to read
    "Please reopen, thanks",
    "It works now",
    "ok",
    "",
    "   \n  ",
    "Thanks! " * 60,  # long: says more than thanks
    "Thanks, see the attached log",
    "Thanks, 2 of 3 laptops work now",
    "Thanks\nVPN",
    "Thanks — what about the other ticket",
]


@pytest.mark.parametrize("text", THANK_YOUS)
def test_a_short_thank_you_is_recognised(text: str) -> None:
    assert is_thanks(text), text


@pytest.mark.parametrize("text", NOT_THANK_YOUS)
def test_anything_else_is_not_a_thank_you(text: str) -> None:
    assert not is_thanks(text), text


def test_hostile_input_is_read_in_bounded_time() -> None:
    attacks = [
        "thanks " + "a" * 1_000_000,
        ("On " + "x" * 10_000 + "\n") * 50,
        "thanks,\n" * 200_000,
        "> " * 500_000,
        ("thanks " * 10) + "?" * 100_000,
    ]
    # Only the first few thousand characters are read, with linear patterns: each returns at
    # once whatever the size (a slow pattern would hang here rather than fail an assertion).
    for text in attacks:
        assert not is_thanks(text)

"""What similarity reads of a ticket: distinctive words, index keys, an incident title; and the
words a chat button may run. Customer text is hostile: bounded work on any input."""

from __future__ import annotations

from core.channel import BUTTON_WORDS, CardMatch, TicketCard
from core.similar.words import (
    KEY_WORDS,
    READ_CHARS,
    WORDS_KEPT,
    common_title,
    distinctive_words,
    index_keys,
    joined,
)


def test_distinctive_words_skip_common_ones_and_keep_order_subject_first() -> None:
    words = distinctive_words("Login page down", "Hi, I cannot log in: the login page says 502.")
    assert words == ["login", "page", "down", "log", "says", "502"]


def test_a_huge_or_hostile_message_is_read_only_so_far() -> None:
    hostile = "\x00<script>" + "a" * 1_000_000 + " zebra"
    words = distinctive_words("x", hostile)
    assert "zebra" not in words and all(len(word) <= 40 for word in words)
    many = " ".join(f"word{n}" for n in range(5000))
    assert len(distinctive_words("", many)) == WORDS_KEPT
    assert len(joined(distinctive_words("", many))) <= 400
    assert len(distinctive_words("", "z " * READ_CHARS + " late")) == 0


def test_keys_are_the_first_words_shortened_once_each() -> None:
    words = ["internationalization", "internationalisation", *[f"w{n:03d}" for n in range(30)]]
    keys = index_keys(words)
    assert keys[0] == "internationa" and len(keys) == KEY_WORDS - 1  # the two share a key


def test_an_incident_title_is_what_most_subjects_share() -> None:
    assert common_title(["Login page down", "Login page 502", "Cannot log in"]) == "Login page"
    assert common_title(["VPN drops", "Printer jams"]) == "VPN drops"
    assert len(common_title(["x" * 500])) == 200


def test_buttons_run_only_link_and_confirm() -> None:
    assert BUTTON_WORDS.match("link T-4 INC-1") and BUTTON_WORDS.match("confirm P-2")
    for words in ("resolve T-1", "link T-4 INC-1 extra", "confirm P-2; close T-1", ""):
        assert not BUTTON_WORDS.match(words)


def test_a_card_offers_the_first_incident_among_its_matches_until_done() -> None:
    card = TicketCard(
        ref="T-9", number=9, channel="email", requester="Carol", subject="502", excerpt="",
        status="new", priority="normal", assignee="", eta=None, next_update_due=None,
        waiting_on="",
        similar=(CardMatch("T-2", "Login", 91), CardMatch("T-3", "Login 502", 88, "INC-4")),
    )  # fmt: skip
    assert card.link_button() == ("Link to INC-4", "link T-9 INC-4")
    from dataclasses import replace

    assert replace(card, status="resolved").link_button() is None
    assert replace(card, similar=card.similar[:1]).link_button() is None

"""What an agent's mail stands for: the grammar words its first line makes, and its token."""

from __future__ import annotations

import pytest

from channels.email.agent_inbound import reply_token_in
from core.config import load_settings
from core.intake.agent_mail import command_words
from core.reply_tokens import check_token, reply_address, reply_key, reply_token, ticket_of
from core.storage.models import Ticket

OURS = frozenset({"support@acme.test"})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Which VPN client?\n\nThanks", "reply T-42 Which VPN client?\n\nThanks"),
        ("note: probably 5.2\nsee the log", "note T-42 probably 5.2\nsee the log"),
        ("Note:", None),
        ("eta tomorrow 15:00", "eta T-42 tomorrow 15:00"),
        ("eta T-42 tomorrow 15:00", "eta T-42 tomorrow 15:00"),
        ("eta #7 tomorrow", "eta T-42 #7 tomorrow"),  # another ticket is not dropped: an error
        (
            "resolve Fixed\n\nThe 5.3 client fixes it.",
            "resolve T-42 Fixed\nThe 5.3 client fixes it.",
        ),
        ("take", "take T-42"),
        # A sentence that begins with a verb is a reply; so is "note that" and "reply ...".
        ("Close the app, then reopen it.", "reply T-42 Close the app, then reopen it."),
        ("note that it is down", "reply T-42 note that it is down"),
        ("reply soon", "reply T-42 reply soon"),
        ("  \n ", None),
    ],
)
def test_the_first_line_decides(text: str, words: str | None) -> None:
    assert command_words(text, Ticket(id=42)) == words


def test_a_token_is_one_agents_for_one_ticket() -> None:
    settings = load_settings(None, web={"secret": "s3cret"})
    key = reply_key(settings)
    assert key is not None
    token = reply_token(key, "alice", 42)
    assert ticket_of(token) == 42
    assert check_token(key, "alice", token) == 42
    assert check_token(key, "alice", token.upper()) == 42, "servers may fold the local part"
    assert check_token(key, "bob", token) is None
    assert check_token(key, "alice", token.replace("t42-", "t43-")) is None
    assert check_token(key, "alice", "t42-" + "0" * 20) is None
    other = reply_key(load_settings(None, web={"secret": "another"}))
    assert other is not None and check_token(other, "alice", token) is None
    assert reply_key(load_settings(None, email={"enabled": False})) is None


def test_the_token_is_read_from_our_own_sub_address_only() -> None:
    token = "t7-" + "a" * 20
    assert reply_token_in([reply_address("support@acme.test", token)], OURS) == token
    assert reply_token_in([f"<SUPPORT+{token.upper()}@ACME.TEST>"], OURS) == token
    assert reply_token_in(["support+billing@acme.test"], OURS) is None
    assert reply_token_in([f"someone+{token}@acme.test"], OURS) is None
    assert reply_token_in([f"support+{token}@elsewhere.test"], OURS) is None
    assert reply_token_in(["support@acme.test", "", "@", "+@"], OURS) is None


def test_an_agent_address_needs_a_secret_to_sign_its_reply_addresses() -> None:
    from core.config import ConfigError

    with pytest.raises(ConfigError, match=r"set web\.secret"):
        load_settings(None, agents={"alice": {"email": "alice@example.com"}})
    assert load_settings(None, agents={"alice": {"email": "a@x.test"}}, web={"secret": "s"})
    assert load_settings(None, agents={"alice": {"email": "a@x.test"}}, email={"enabled": False})


def test_the_reply_address_is_one_the_intake_accepts() -> None:
    from channels.email import EmailChannel

    def base(**email: object) -> str:
        return EmailChannel(load_settings(None, email=email, web={"secret": "s"})).reply_base

    assert base(from_address="support@acme.test", addresses=["support@acme.test"]) == (
        "support@acme.test"
    )
    assert base(from_address="noreply@acme.test", addresses=["@other.test", "help@acme.test"]) == (
        "help@acme.test"
    )
    assert base(from_address="noreply@acme.test", addresses=["@acme.test"]) == "noreply@acme.test"

"""Pure Discord translation: stored records -> core types, splitting, cards, command words."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.discord.cards import card_buttons, card_embed, parse_custom_id
from channels.discord.translate import (
    FormSpec,
    Routing,
    command_words,
    decode,
    split_text,
    thread_name,
)
from core.agents import Roster
from core.channel import AgentMessage, Ignored, InboundMessage, ReplyTarget, TicketCard
from core.commands.grammar import parse
from core.config import IntakeConfig

HELP, TRIAGE, RANDOM = "1300000000000000001", "1300000000000000002", "1300000000000000003"
AGENTS = Roster(
    {("discord", "1200000000000000007"): "dana"},
    frozenset({"dana"}),
    {"discord": frozenset({"77"})},
)
ROUTING = Routing(frozenset({HELP}), TRIAGE, AGENTS)
INTAKE = IntakeConfig()
FORM = FormSpec(tuple(INTAKE.fields), dict(INTAKE.impact_priority))


def record(**overrides: Any) -> dict[str, Any]:
    """A message record as TidingsClient.record_of stores it (a DM from Alice by default)."""
    base: dict[str, Any] = {
        "type": "message",
        "id": "1310000000000000100",
        "channel_id": "1310000000000000009",
        "channel_kind": "dm",
        "parent_id": "",
        "guild_id": "",
        "author": {"id": "1200000000000000042", "name": "Alice", "bot": False},
        "roles": [],
        "content": "My VPN drops every 5 minutes\nsince this morning",
        "message_type": 0,
        "webhook_id": "",
        "reference_id": "",
        "attachments": [],
        "created_at": "2026-11-23T09:00:00+00:00",
    }
    return base | overrides


def decoded(**overrides: Any) -> Any:
    return decode(json.dumps(record(**overrides)).encode(), ROUTING, FORM)


def test_dm_becomes_a_message_answered_in_the_dm_and_keyed_on_it() -> None:
    message = decoded()
    assert isinstance(message, InboundMessage)
    assert message.external_id == "1310000000000000100"
    assert message.sender.address == "1200000000000000042" and message.sender.name == "Alice"
    assert message.reply_target == ReplyTarget("discord", "1310000000000000009", "")
    assert message.thread_keys == ("dm:1310000000000000009",)
    assert message.subject == "My VPN drops every 5 minutes"


def test_a_discord_reply_to_one_of_our_messages_is_the_strongest_key() -> None:
    message = decoded(reference_id="1310000000000000077")
    assert isinstance(message, InboundMessage)
    assert message.thread_keys == ("1310000000000000077", "dm:1310000000000000009")


def test_top_level_intake_message_is_answered_in_a_thread_on_itself() -> None:
    message = decoded(channel_kind="text", channel_id=HELP, guild_id="1")
    assert isinstance(message, InboundMessage)
    assert message.reply_target == ReplyTarget("discord", HELP, "1310000000000000100")
    assert message.thread_keys == ()


def test_message_in_an_intake_thread_joins_the_ticket_of_the_thread() -> None:
    thread = "1310000000000000050"  # == the id of the message the thread was started on
    message = decoded(channel_kind="thread", channel_id=thread, parent_id=HELP, guild_id="1")
    assert isinstance(message, InboundMessage)
    assert message.thread_keys == (thread,)
    assert message.reply_target == ReplyTarget("discord", HELP, thread)


@pytest.mark.parametrize(
    ("author", "roles"), [("1200000000000000007", []), ("1200000000000000008", ["77"])]
)
def test_an_agent_in_a_customers_thread_is_already_public_not_resent(
    author: str, roles: list[str]
) -> None:
    thread = "1310000000000000050"
    message = decoded(
        channel_kind="thread", channel_id=thread, parent_id=HELP, roles=roles,
        author={"id": author, "name": "Bob", "bot": False}, content="Try the left tray",
    )  # fmt: skip
    assert isinstance(message, AgentMessage)
    assert message.thread_keys == (thread,)
    assert message.text == "Try the left tray" and message.already_public


def test_message_in_a_triage_card_thread_is_an_agent_message_with_roles() -> None:
    card = "1310000000000000060"
    message = decoded(
        channel_kind="thread", channel_id=card, parent_id=TRIAGE, roles=["77"], content="note: hi"
    )
    assert isinstance(message, AgentMessage)
    assert message.thread_keys == (card,)
    assert message.actor.roles == ("77",) and message.text == "note: hi"


def test_a_ticket_thread_outside_intake_channels_only_joins_its_ticket() -> None:
    thread = "1310000000000000051"  # Log as ticket answered a customer here, in #random
    message = decoded(channel_kind="thread", channel_id=thread, parent_id=RANDOM, guild_id="1",
                      ticket_thread=True, content="It jams on page 2 now")  # fmt: skip
    assert isinstance(message, InboundMessage)
    assert message.thread_keys == (thread,) and message.join_only
    assert message.reply_target == ReplyTarget("discord", RANDOM, thread)
    assert message.text == "It jams on page 2 now"
    intake = decoded(channel_kind="thread", channel_id=thread, parent_id=HELP, guild_id="1")
    assert isinstance(intake, InboundMessage) and not intake.join_only


def test_an_agent_in_a_ticket_thread_outside_intake_is_already_public() -> None:
    thread = "1310000000000000051"
    message = decoded(
        channel_kind="thread", channel_id=thread, parent_id=RANDOM, ticket_thread=True,
        author={"id": "1200000000000000007", "name": "Dana", "bot": False}, content="On my way",
    )  # fmt: skip
    assert isinstance(message, AgentMessage) and message.already_public
    assert message.thread_keys == (thread,)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"author": {"id": "1", "name": "Tidings", "bot": True}}, "bot"),
        ({"webhook_id": "5"}, "webhook"),
        ({"message_type": 7}, "system message"),
        ({"content": "  ", "attachments": []}, "message content intent"),
        ({"channel_kind": "text", "channel_id": RANDOM}, "not an intake channel"),
        # A thread elsewhere that the adapter did not find to be a ticket's (no mark).
        ({"channel_kind": "thread", "channel_id": "9", "parent_id": RANDOM}, "not an intake"),
        ({"channel_kind": "thread", "channel_id": "9", "parent_id": RANDOM}, "a ticket's thread"),
        (
            {
                "channel_kind": "thread",
                "channel_id": "9",
                "parent_id": RANDOM,
                "ticket_thread": False,
            },
            "a ticket's thread",
        ),
    ],
)
def test_what_never_becomes_a_ticket(overrides: dict[str, Any], reason: str) -> None:
    result = decoded(**overrides)
    assert isinstance(result, Ignored) and reason in result.reason


def test_attachments_are_recorded_and_an_attachment_alone_is_a_message() -> None:
    shot = {
        "filename": "error.png",
        "content_type": "image/png",
        "size": 48213,
        "url": "https://x/e.png",
    }
    message = decoded(content="", attachments=[shot])
    assert isinstance(message, InboundMessage)
    [attachment] = message.attachments
    assert (attachment.name, attachment.content_type, attachment.size) == (
        "error.png",
        "image/png",
        48213,
    )
    assert attachment.stored_at == "https://x/e.png"
    assert message.text == "(sent error.png)"


@pytest.mark.parametrize(
    "payload", [b"", b"[]", b"{not json", b'{"type": "message"}', b'{"type": 3}']
)
def test_broken_payloads_are_ignored_never_raised(payload: bytes) -> None:
    assert isinstance(decode(payload, ROUTING, FORM), Ignored)


def test_form_becomes_a_new_ticket_in_the_dm_with_fields_and_priority() -> None:
    form = {
        "type": "form",
        "id": "1320000000000000001",
        "author": {"id": "1200000000000000042", "name": "Alice"},
        "roles": [],
        "dm_channel_id": "1310000000000000009",
        "fields": {"what": "Payroll export fails", "impact": "I can't work", "since": ""},
    }
    message = decode(json.dumps(form).encode(), ROUTING, FORM)
    assert isinstance(message, InboundMessage)
    assert message.external_id == "form:1320000000000000001"  # as stored by the adapter
    assert message.reply_target == ReplyTarget("discord", "1310000000000000009", "")
    assert message.thread_keys == ()  # a form always opens a new ticket
    assert message.subject == "Payroll export fails"
    assert message.priority == "high"
    assert message.fields["impact"] == "I can't work"
    assert (
        message.text
        == "What is wrong?\nPayroll export fails\n\nHow much does it block you?\nI can't work"
    )


def test_form_without_a_required_answer_is_ignored_with_the_reason() -> None:
    form = {"type": "form", "id": "1", "author": {"id": "2"}, "fields": {"what": "x"}}
    result = decode(json.dumps(form).encode(), ROUTING, FORM)
    assert isinstance(result, Ignored) and "How much does it block you?" in result.reason


def test_long_text_is_split_on_line_boundaries() -> None:
    lines = [f"line {n:04d} " + "x" * 40 for n in range(50)]  # 50 lines of 50 characters
    chunks = split_text("\n".join(lines))
    assert [len(c) for c in chunks] == [1988, 560]
    assert chunks[0].endswith("line 0038 " + "x" * 40) and chunks[1].startswith("line 0039")


def test_a_single_long_line_is_cut_at_spaces() -> None:
    text = ("word " * 500).strip()  # 2,499 characters, no line breaks
    chunks = split_text(text)
    assert len(chunks) == 2 and all(len(c) <= 2000 for c in chunks)
    assert " ".join(c.strip() for c in chunks) == text


@given(st.text(min_size=1, max_size=6000))
def test_split_never_exceeds_the_limit_and_loses_no_visible_text(text: str) -> None:
    chunks = split_text(text)
    assert all(0 < len(c) <= 2000 for c in chunks)
    assert "".join("".join(c.split()) for c in chunks) == "".join(text.split())


def card(**overrides: Any) -> TicketCard:
    base: dict[str, Any] = {
        "ref": "T-42",
        "number": 42,
        "channel": "email",
        "requester": "Alice <alice@example.com>",
        "subject": "Payroll export fails",
        "excerpt": "Since this morning the payroll export stops at 50%.",
        "status": "open",
        "priority": "high",
        "assignee": "",
        "eta": datetime(2026, 11, 24, 15, 0, tzinfo=UTC),
        "next_update_due": None,
        "waiting_on": "",
    }
    return TicketCard(**(base | overrides))


def test_card_embed_shows_the_ticket_at_a_glance() -> None:
    embed = card_embed(card())
    assert embed["title"] == "T-42 · Payroll export fails"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Assignee"] == "nobody yet"
    assert fields["From"] == "Alice <alice@example.com> via email"
    assert fields["ETA"] == "<t:1795532400:f>"
    assert fields["Next update"] == "none due"


def test_card_embed_stays_within_discord_limits() -> None:
    embed = card_embed(card(subject="s" * 400, excerpt="e" * 5000, waiting_on="w" * 2000))
    assert len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
    assert all(len(f["value"]) <= 1024 for f in embed["fields"])


def test_card_buttons_carry_the_ticket_number_in_their_custom_id() -> None:
    ids = [cid for cid, _, _ in card_buttons(card())]
    assert ids == ["tidings:take:42", "tidings:eta:42", "tidings:wait:42", "tidings:resolve:42"]
    assert [cid for cid, _, _ in card_buttons(card(status="resolved"))] == ["tidings:reopen:42"]
    assert parse_custom_id("tidings:eta:42") == ("eta", 42)
    assert parse_custom_id("tidings:drop:42") is None


def test_thread_names_fit_discord() -> None:
    assert thread_name("T-7", "VPN") == "T-7 VPN"
    assert len(thread_name("T-7", "v" * 300)) == 100


NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sub", "options", "expected"),
    [
        ("eta", {"ticket": "T-1", "when": "tomorrow 10:00"}, "eta T-1 tomorrow 10:00"),
        ("reply", {"ticket": "#3", "text": "On it"}, "reply #3 On it"),
        ("list", {"filter": None}, "list"),
        ("priority", {"ticket": "4", "level": "urgent"}, "priority 4 urgent"),
        ("take", {"ticket": "T-9 Printer on fire"}, "take T-9"),  # an autocomplete label
        ("same", {"ticket": "T-1 VPN", "other": "T-2 Printer"}, "same T-1 T-2"),
        ("search", {"words": " vpn  drops "}, "search vpn  drops"),
        ("replies", {}, "replies"),
    ],
)
def test_command_words(sub: str, options: dict[str, str | None], expected: str) -> None:
    assert command_words(sub, options) == expected


def test_command_words_parse_back_with_the_core_grammar() -> None:
    tz = ZoneInfo("UTC")
    eta = parse(
        command_words("eta", {"ticket": "T-1", "when": "tomorrow 10:00", "text": "Vendor"}), NOW, tz
    )
    assert eta.when == datetime(2026, 11, 24, 10, 0, tzinfo=UTC) and eta.text == "Vendor"
    words = command_words(
        "wait", {"ticket": "T-1", "what": "the vendor's fix", "text": "Asked today"}
    )
    wait = parse(words, NOW, tz)
    assert (wait.what, wait.text) == ("the vendor's fix", "Asked today")
    bare = parse(command_words("wait", {"ticket": "T-1", "what": "the vendor's fix"}), NOW, tz)
    assert bare.what == "the vendor's fix"


def test_card_embed_adds_the_latest_message_below_the_first() -> None:
    said_at = datetime(2026, 11, 23, 11, 15, tzinfo=UTC)
    embed = card_embed(card(latest="x" * 2000, latest_at=said_at, latest_by="Alice"))
    assert embed["description"].startswith("Since this morning"), "the first message stays"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Customer last wrote"] == "<t:1795432500:R>"
    assert fields["Latest from Alice"].startswith("<t:1795432500:f>\nxxx")
    assert len(fields["Latest from Alice"]) == 1024  # within Discord's field limit
    assert "Latest from Alice" not in json.dumps(card_embed(card(latest_at=said_at)))

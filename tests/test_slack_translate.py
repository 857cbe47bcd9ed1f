"""Pure Slack translation: signatures, markup, payload -> core types, core -> Block Kit."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from channels.slack.inbound import decode, raw_key, worth_storing
from channels.slack.markup import escape, to_plain
from channels.slack.outbound import card_args, card_blocks, message_args
from channels.slack.signing import signature, verify
from channels.slack.views import intake_modal
from core.channel import (
    AgentMessage,
    Audience,
    Ignored,
    InboundMessage,
    OutboundMessage,
    ReplyTarget,
    TicketCard,
)
from core.config import load_settings
from tests.fake_slack import BOT_USER
from tests.fake_slack_payloads import (
    bot_message,
    envelope,
    file_share,
    message,
    message_changed,
)

# Slack's worked example from "Verifying requests from Slack" (docs.slack.dev / api.slack.com).
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmib"
    "IGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


@pytest.fixture
def settings():
    return load_settings(
        None,
        slack={"intake_channels": ["C0HELP"], "triage_channel": "C0TRIAGE"},
        agents={"alice": {"slack": "U0ALICE"}},
    )


def payload(body: dict) -> bytes:
    return json.dumps(body).encode()


def test_signature_matches_slacks_published_example():
    assert signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE
    assert verify(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY, DOC_SIGNATURE, now=1531420618 + 60)


def test_signature_refuses_tampering_and_replays():
    late = 1531420618 + 301
    assert not verify(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY, DOC_SIGNATURE, now=late)
    assert not verify(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY + "x", DOC_SIGNATURE, now=1531420618)
    assert not verify("other", DOC_TIMESTAMP, DOC_BODY, DOC_SIGNATURE, now=1531420618)
    assert not verify(DOC_SECRET, "soon", DOC_BODY, DOC_SIGNATURE, now=1531420618)


def test_escape_defuses_mentions_and_links():
    sent = escape("<!channel> see <https://evil.example|your bank> & <@U0ALICE>")
    assert "<" not in sent and ">" not in sent
    assert sent.startswith("&lt;!channel&gt;") and "&amp;" in sent


def test_to_plain_reads_slack_markup_like_a_person():
    text = "<@UBOT> VPN down, see <https://status.example|status> &amp; <#C0HELP|help> <!here>"
    assert to_plain(text, strip_user="UBOT") == (
        "VPN down, see status (https://status.example) & #help @here"
    )


def test_dm_opens_a_ticket_threaded_on_the_message(settings):
    event = message("U0CAROL", "D0CAROL", "My VPN drops every 5 minutes", channel_type="im")
    decoded = decode(payload(envelope(event)), settings)
    assert isinstance(decoded, InboundMessage)
    assert decoded.external_id == f"D0CAROL:{event['ts']}"
    assert decoded.reply_target == ReplyTarget("slack", "D0CAROL", event["ts"])
    assert decoded.thread_keys == ()
    assert decoded.sender.address == "U0CAROL"
    assert decoded.subject == "My VPN drops every 5 minutes"
    assert decoded.received_at == datetime.fromtimestamp(float(event["ts"]), UTC)


def test_thread_reply_names_the_thread_root(settings):
    root = message("U0CAROL", "C0HELP", "Printer on fire")
    reply = message("U0CAROL", "C0HELP", "Still burning", thread_ts=root["ts"])
    decoded = decode(payload(envelope(reply)), settings)
    assert isinstance(decoded, InboundMessage)
    assert decoded.thread_keys == (f"C0HELP:{root['ts']}",)
    assert decoded.reply_target == ReplyTarget("slack", "C0HELP", root["ts"])


def test_message_and_app_mention_of_one_message_share_one_inbox_key(settings):
    text = f"<@{BOT_USER}> the wiki is down"
    plain = message("U0CAROL", "C0HELP", text)
    mention = message("U0CAROL", "C0HELP", text, ts=plain["ts"], kind="app_mention")
    assert raw_key(envelope(plain)) == raw_key(envelope(mention)) == f"C0HELP:{plain['ts']}"
    for event in (plain, mention):
        decoded = decode(payload(envelope(event)), settings)
        assert isinstance(decoded, InboundMessage)
        assert decoded.text == "the wiki is down"


def test_chatter_elsewhere_is_not_stored_but_a_mention_is(settings):
    chatter = envelope(message("U0CAROL", "C0RANDOM", "lunch?"))
    assert not worth_storing(chatter, settings)
    assert isinstance(decode(payload(chatter), settings), Ignored)
    mention = envelope(message("U0CAROL", "C0RANDOM", f"<@{BOT_USER}> wifi is slow"))
    assert worth_storing(mention, settings)
    assert isinstance(decode(payload(mention), settings), InboundMessage)


@pytest.mark.parametrize(
    "event",
    [
        bot_message("C0HELP", "build failed"),
        bot_message("C0HELP", "T-1 logged", ours=True),
        message_changed("U0CAROL", "C0HELP", "1763900001.000200", "edited"),
        message("U0CAROL", "C0HELP", "", subtype="message_deleted"),
        message("U0CAROL", "C0HELP", "joined", subtype="channel_join"),
    ],
    ids=["other-bot", "our-bot", "edit", "delete", "join"],
)
def test_bots_edits_deletes_and_joins_are_ignored(settings, event):
    body = envelope(event)
    assert not worth_storing(body, settings)
    assert isinstance(decode(payload(body), settings), Ignored)


def test_file_share_records_the_attachment(settings):
    event = file_share("U0CAROL", "C0HELP", "here is the error")
    decoded = decode(payload(envelope(event)), settings)
    assert isinstance(decoded, InboundMessage)
    (attachment,) = decoded.attachments
    assert (attachment.name, attachment.content_type, attachment.size) == (
        "vpn-error.png",
        "image/png",
        48213,
    )
    assert attachment.stored_at.startswith("https://files.slack.com/")


def test_reply_in_a_triage_card_thread_is_an_agent_message(settings):
    card_ts = "1763900500.000100"
    event = message("U0ALICE", "C0TRIAGE", "note: checking the logs", thread_ts=card_ts)
    body = envelope(event)
    assert worth_storing(body, settings)
    decoded = decode(payload(body), settings)
    assert isinstance(decoded, AgentMessage)
    assert decoded.thread_keys == (card_ts,)
    assert decoded.actor.user_id == "U0ALICE"
    assert decoded.text == "note: checking the logs"


def test_garbage_is_ignored_never_raised(settings):
    for junk in (b"", b"\xff\xfe", b"[]", b'{"type": "event_callback", "event": 7}'):
        assert isinstance(decode(junk, settings), Ignored)


def test_customer_text_is_escaped_and_threaded():
    message_out = OutboundMessage(
        ticket_ref="T-1",
        subject="VPN",
        text="You wrote: <!here> <https://x.example|click>",
        kind="ack",
        automatic=True,
        token="tok-1",
    )
    args = message_args(ReplyTarget("slack", "C0HELP", "1763900001.000200"), message_out)
    assert args["thread_ts"] == "1763900001.000200"
    assert args["text"] == "You wrote: &lt;!here&gt; &lt;https://x.example|click&gt;"
    assert message_out.audience is Audience.CUSTOMER


def _card(**changes) -> TicketCard:
    values = dict(
        ref="T-7",
        number=7,
        channel="email",
        requester="Bob <bob@example.com>",
        subject="Invoice <b>wrong</b>",
        excerpt="line one\n<!channel> please",
        status="new",
        priority="high",
        assignee="",
        eta=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        next_update_due=None,
        waiting_on="",
    )
    values.update(changes)
    return TicketCard(**values)


def test_card_blocks_show_the_ticket_and_four_buttons():
    blocks = card_blocks(_card())
    rendered = json.dumps(blocks)
    assert "<!channel>" not in rendered and "<b>" not in rendered  # customer text escaped
    assert "&lt;!channel&gt;" in rendered
    assert "<!date^1796115600^" in rendered  # the ETA in each reader's own timezone
    actions = next(b for b in blocks if b["type"] == "actions")
    assert [e["text"]["text"] for e in actions["elements"]] == [
        "Take",
        "Set ETA",
        "Waiting",
        "Resolve",
    ]
    assert {e["value"] for e in actions["elements"]} == {"T-7"}


def test_card_edit_targets_the_posted_card():
    args = card_args(ReplyTarget("slack", "C0TRIAGE", ""), _card(status="open"), "1763.0001")
    assert args["ts"] == "1763.0001" and args["channel"] == "C0TRIAGE"


def test_intake_modal_follows_the_configured_template(settings):
    view = intake_modal(settings.intake.fields)
    assert [b["block_id"] for b in view["blocks"]] == [f.name for f in settings.intake.fields]
    impact = view["blocks"][1]["element"]
    assert impact["type"] == "static_select"
    assert [o["value"] for o in impact["options"]] == settings.intake.fields[1].choices
    assert view["blocks"][2]["optional"] is True
    assert len(view["title"]["text"]) <= 24


def test_intake_form_decodes_to_fields_and_priority(settings):
    from urllib.parse import parse_qs

    from tests.fake_slack_payloads import view_submission

    answers = {"what": "CRM login fails", "impact": ("select", "Just annoying")}
    form = view_submission("UCAROL", "carol", "tidings_intake", answers)
    body = parse_qs(form)["payload"][0].encode()
    decoded = decode(body, settings)
    assert isinstance(decoded, InboundMessage)
    assert decoded.fields == {"what": "CRM login fails", "impact": "Just annoying"}
    assert decoded.priority == "low"
    assert decoded.reply_target == ReplyTarget("slack", "UCAROL", "")
    assert decoded.external_id.startswith("view:V0VIEW")


def test_shortcut_decodes_to_the_original_author_in_its_thread(settings):
    from urllib.parse import parse_qs

    from tests.fake_slack_payloads import message_shortcut

    root = message("UCAROL", "C0RANDOM", "root")
    reply = message("UCAROL", "C0RANDOM", "the printer is smoking", thread_ts=root["ts"])
    body = parse_qs(message_shortcut("U0ALICE", "alice", reply))["payload"][0].encode()
    decoded = decode(body, settings)
    assert isinstance(decoded, InboundMessage)
    assert decoded.sender.address == "UCAROL" and "alice" in decoded.note
    assert decoded.thread_keys == (f"C0RANDOM:{root['ts']}",)
    assert decoded.external_id == f"C0RANDOM:{reply['ts']}"


@pytest.mark.parametrize(
    ("answers", "words"),
    [
        ({"what": "the vendor"}, "wait T-3 the vendor"),
        ({"what": 'the "big" fix', "text": "Friday"}, "wait T-3 “the “big“ fix” Friday"),
        ({"what": "HR's answer", "text": "soon"}, "wait T-3 “HR’s answer” soon"),
    ],
)
def test_waiting_form_words_keep_what_and_text_apart(answers, words):
    from channels.slack.views import WAIT_VIEW, form_words

    assert form_words(WAIT_VIEW, "T-3", answers) == ("what", words)


def test_waiting_form_words_parse_back_with_the_core_grammar():
    from zoneinfo import ZoneInfo

    from channels.slack.views import WAIT_VIEW, form_words
    from core.commands.grammar import parse

    _, words = form_words(WAIT_VIEW, "T-3", {"what": 'the vendor\'s "fix"', "text": "By Friday."})
    command = parse(words, datetime(2026, 11, 23, 9, tzinfo=UTC), ZoneInfo("UTC"))
    assert (command.what, command.text) == ("the vendor’s “fix“", "By Friday.")


def test_thread_reply_outside_intake_channels_only_joins_a_ticket(settings):
    root = message("UCAROL", "C0RANDOM", f"<@{BOT_USER}> the badge reader is dead")
    reply = message("UCAROL", "C0RANDOM", "any news?", thread_ts=root["ts"])
    body = envelope(reply)
    assert worth_storing(body, settings)
    decoded = decode(payload(body), settings)
    assert isinstance(decoded, InboundMessage) and decoded.join_only
    assert decoded.thread_keys == (f"C0RANDOM:{root['ts']}",)
    opening = decode(payload(envelope(root)), settings)
    assert isinstance(opening, InboundMessage) and not opening.join_only


def test_agent_in_a_customer_thread_is_already_public(settings):
    root = message("UCAROL", "C0HELP", "Printer jammed")
    said = message("U0ALICE", "C0HELP", "I'm on my way", thread_ts=root["ts"])
    decoded = decode(payload(envelope(said)), settings)
    assert isinstance(decoded, AgentMessage)
    assert decoded.text == "I'm on my way" and decoded.already_public
    assert decoded.thread_keys == (f"C0HELP:{root['ts']}",)


def test_card_shows_the_latest_message_escaped_under_the_first_with_who_and_when():
    said_at = datetime(2026, 11, 23, 11, 15, tzinfo=UTC)
    first_only = json.dumps(card_blocks(_card(latest_at=said_at, latest_by="Bob")))
    assert "Latest from" not in first_only, "the first message is shown once, as the excerpt"
    assert "*Customer last wrote*\\n<!date^1795432500^" in first_only

    blocks = card_blocks(_card(latest="It is <!here> again\nand again", latest_at=said_at,
                               latest_by="Bob <b>"))  # fmt: skip
    [latest] = [
        b["text"]["text"] for b in blocks if "Latest from" in b.get("text", {}).get("text", "")
    ]
    assert latest.startswith("*Latest from Bob &lt;b&gt;*, <!date^1795432500^")
    assert latest.endswith("\n&gt; It is &lt;!here&gt; again\n&gt; and again")
    assert "&lt;!channel&gt;" in json.dumps(blocks), "the first message is still there"

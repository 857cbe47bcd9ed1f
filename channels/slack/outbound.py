"""Pure translation of core OutboundMessages into Slack Web API call arguments (text, Block Kit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from channels.slack.markup import clip, escape
from core.channel import OutboundMessage, ReplyTarget, TicketCard

# action_ids of the card buttons; the button value is the ticket ref ("T-4").
TAKE, SET_ETA, WAITING, RESOLVE = "tidings_take", "tidings_eta", "tidings_wait", "tidings_resolve"
# Buttons that run grammar words (their value, checked against core's BUTTON_WORDS): "Link to
# INC-n" on a card, "Open incident" on a possible-incident card.
WORDS = "tidings_do_"
# A rating button's action_id is this and its score ("tidings_rate_4"); its value the ticket ref.
RATE = "tidings_rate_"
_SECTION_LIMIT = 2900  # a section's text may hold 3,000 characters
_FIELD_LIMIT = 1900  # each section field 2,000

Block = dict[str, Any]


def slack_time(when: datetime | None, missing: str) -> str:
    """A time every reader sees in their own timezone, with a UTC fallback for old clients."""
    if when is None:
        return missing
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def message_args(target: ReplyTarget, message: OutboundMessage) -> dict[str, Any]:
    """chat.postMessage arguments for plain text into the ticket's thread, escaped."""
    args: dict[str, Any] = {
        "channel": target.address,
        "text": clip(escape(message.text)),
        # Customer text may carry links; unfurling them would put strangers' previews in threads.
        "unfurl_links": False,
        "unfurl_media": False,
    }
    if target.thread:
        args["thread_ts"] = target.thread
    if message.rating_scale:
        args["blocks"] = rating_blocks(message)
    elif message.buttons:
        args["blocks"] = words_blocks(message)
    return args


def _sections(text: str) -> list[Block]:
    text = clip(escape(text), 10 * _SECTION_LIMIT)
    chunks = [text[start : start + _SECTION_LIMIT] for start in range(0, len(text), _SECTION_LIMIT)]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks]


def words_blocks(message: OutboundMessage) -> list[Block]:
    """The message's text, then its buttons: each runs its grammar words for whoever presses."""
    elements = [
        _button(label, f"{WORDS}{index}", words, "primary" if index == 0 else "")
        for index, (label, words) in enumerate(message.buttons[:5])
    ]
    return [*_sections(message.text), {"type": "actions", "elements": elements}]


def similar_section(card: TicketCard) -> Block | None:
    """The card's best matches: ref, subject, score, and the incident each is in."""
    if not card.similar:
        return None
    lines = [
        f"{escape(m.ref)} {escape(m.subject[:80])} ({m.score}%)"
        + (f" · {escape(m.incident)}" if m.incident and m.incident != m.ref else "")
        for m in card.similar
    ]
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(
        "*Looks like*\n" + "\n".join(lines), _SECTION_LIMIT)}}  # fmt: skip


def rating_blocks(message: OutboundMessage) -> list[Block]:
    """The message's text, then one button per score: the customer's answer in one click."""
    text = clip(escape(message.text), 10 * _SECTION_LIMIT)
    chunks = [text[start : start + _SECTION_LIMIT] for start in range(0, len(text), _SECTION_LIMIT)]
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks
    ]
    scores = range(1, message.rating_scale + 1)
    elements = [_button(str(score), f"{RATE}{score}", message.ticket_ref) for score in scores]
    blocks.append({"type": "actions", "block_id": "tidings_rating", "elements": elements})
    return blocks


def _field(label: str, value: str) -> Block:
    return {"type": "mrkdwn", "text": clip(f"*{label}*\n{value}", _FIELD_LIMIT)}


def _quote(text: str) -> str:
    return "\n".join("&gt; " + line for line in escape(text).splitlines() if line.strip())


def _button(text: str, action_id: str, ref: str, style: str = "") -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": ref,
    }
    if style:
        button["style"] = style
    return button


def card_fallback(card: TicketCard) -> str:
    """The notification / screen-reader text of a card."""
    return escape(f"{card.ref} [{card.status}] {card.subject}")


def _latest(card: TicketCard) -> str:
    """The customer's latest message, under who wrote it and when (the first is above it)."""
    who = escape(card.latest_by or card.requester)
    heading = f"*Latest from {who}*, {slack_time(card.latest_at, 'just now')}"
    return clip(f"{heading}\n{_quote(card.latest)}", _SECTION_LIMIT)


def card_blocks(card: TicketCard) -> list[Block]:
    """A triage card: what the ticket is, where it came from, what was promised, and the buttons."""
    fields = [
        _field("From", escape(f"{card.requester} via {card.channel}")),
        _field("Status", escape(card.status)),
        _field("Priority", escape(card.priority)),
        _field("Assignee", escape(card.assignee) if card.assignee else "nobody yet"),
        _field("ETA", slack_time(card.eta, "not given")),
        _field("Next update due", slack_time(card.next_update_due, "none")),
        _field("Customer last wrote", slack_time(card.latest_at, "not yet")),
    ]
    if card.waiting_on:
        fields.append(_field("Waiting on", escape(card.waiting_on)))
    title = clip(f"*{escape(card.ref)}*  {escape(card.subject or '(no subject)')}", _SECTION_LIMIT)
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": title}},
        {"type": "section", "fields": fields},
    ]
    if card.excerpt.strip():
        excerpt = clip(_quote(card.excerpt), _SECTION_LIMIT)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": excerpt}})
    if card.latest.strip():
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _latest(card)}})
    similar = similar_section(card)
    if similar is not None:
        blocks.append(similar)
    resolve = _button("Resolve", RESOLVE, card.ref, "primary")
    resolve["confirm"] = {
        "title": {"type": "plain_text", "text": f"Resolve {card.ref}?"},
        "text": {"type": "mrkdwn", "text": "The customer is told the ticket is resolved."},
        "confirm": {"type": "plain_text", "text": "Resolve"},
        "deny": {"type": "plain_text", "text": "Cancel"},
    }
    blocks.append(
        {
            "type": "actions",
            "block_id": f"tidings_card_{card.number}",
            "elements": [
                _button("Take", TAKE, card.ref),
                _button("Set ETA", SET_ETA, card.ref),
                _button("Waiting", WAITING, card.ref),
                resolve,
                *_link_button(card),
            ],
        }
    )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "Reply in this thread to answer the customer; "
                    "start with `note:` to keep it internal.",
                }
            ],
        }
    )
    return blocks


def _link_button(card: TicketCard) -> list[Block]:
    link = card.link_button()
    return [] if link is None else [_button(link[0], f"{WORDS}link", link[1])]


def card_args(target: ReplyTarget, card: TicketCard, edit_ts: str = "") -> dict[str, Any]:
    """chat.postMessage (or chat.update, with `edit_ts`) arguments for a triage card."""
    args: dict[str, Any] = {
        "channel": target.address,
        "text": card_fallback(card),
        "blocks": card_blocks(card),
    }
    if edit_ts:
        args["ts"] = edit_ts
    return args

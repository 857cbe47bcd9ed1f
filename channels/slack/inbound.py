"""Pure translation of stored Slack payloads (events, forms, shortcuts) into core types."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from channels.slack.markup import mentions, subject_of, ticket_hint, to_plain
from core.agents import authorise
from core.channel import (
    Actor,
    AgentMessage,
    Attachment,
    Contact,
    Decoded,
    Ignored,
    InboundMessage,
    ReplyTarget,
)
from core.config import Settings

CHANNEL = "slack"
INTAKE_VIEW = "tidings_intake"
OPEN_TICKET_SHORTCUT = "tidings_open_ticket"
# Message subtypes a person writes; everything else (edits, deletes, joins, bot posts) is noise.
PERSON_SUBTYPES = frozenset({"", "file_share", "thread_broadcast", "me_message"})

Json = Mapping[str, Any]


def thread_key(channel: str, ts: str) -> str:
    """The key that names a Slack conversation (a thread root or a message) across the core."""
    return f"{channel}:{ts}"


def raw_key(body: Json) -> str:
    """Dedupe key for the inbox. Messages use channel:ts, so a Slack retry and the message +
    app_mention double delivery of one message are the same row; other events use event_id."""
    kind = body.get("type")
    if kind == "event_callback":
        event = body.get("event") or {}
        if event.get("type") in ("message", "app_mention") and event.get("ts"):
            return thread_key(str(event.get("channel", "")), str(event["ts"]))
        return str(body.get("event_id", ""))
    if kind == "view_submission":
        return f"view:{(body.get('view') or {}).get('id', '')}"
    if kind == "message_action":
        channel = (body.get("channel") or {}).get("id", "")
        return f"shortcut:{channel}:{(body.get('message') or {}).get('ts', '')}"
    return ""


def bot_user_of(body: Json) -> str:
    """The bot's own user id, as Slack states it in every Events API envelope."""
    for item in body.get("authorizations") or ():
        if item.get("is_bot") and item.get("user_id"):
            return str(item["user_id"])
    return ""


def is_dm(event: Json) -> bool:
    return event.get("channel_type") == "im" or str(event.get("channel", "")).startswith("D")


def _is_thread_reply(event: Json) -> bool:
    thread_ts = event.get("thread_ts")
    return bool(thread_ts) and thread_ts != event.get("ts")


def _by_person(event: Json) -> bool:
    return (
        bool(event.get("user"))
        and not event.get("bot_id")
        and event.get("subtype", "") in PERSON_SUBTYPES
    )


def worth_storing(body: Json, settings: Settings) -> bool:
    """Cheap filter before persisting: drop what can never matter (bots, edits, idle chatter)."""
    event = body.get("event") or {}
    if event.get("type") not in ("message", "app_mention") or not _by_person(event):
        return False
    channel = str(event.get("channel", ""))
    if event.get("type") == "app_mention" or is_dm(event):
        return True
    if channel in settings.slack.intake_channels:
        return True
    if _is_thread_reply(event):
        # Anywhere: it may continue a ticket's thread (decode decides; core joins or ignores).
        return True
    return mentions(str(event.get("text", "")), bot_user_of(body))


def _received_at(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _attachments(message: Json) -> tuple[Attachment, ...]:
    found = []
    for item in message.get("files") or ():
        if not isinstance(item, Mapping) or item.get("mode") == "tombstone":
            continue
        found.append(
            Attachment(
                name=str(item.get("name") or item.get("title") or item.get("id") or "file"),
                content_type=str(item.get("mimetype") or "application/octet-stream"),
                size=int(item.get("size") or 0),
                # The download link (the token opens it); core fetches and keeps the bytes.
                stored_at=str(
                    item.get("url_private_download")
                    or item.get("url_private")
                    or item.get("permalink")
                    or ""
                ),
            )
        )
    return tuple(found)


def _display_name(event: Json) -> str:
    profile = event.get("user_profile") or {}
    return str(profile.get("display_name") or profile.get("real_name") or profile.get("name") or "")


def _decode_event(body: Json, settings: Settings) -> Decoded:
    event = body.get("event") or {}
    if event.get("type") not in ("message", "app_mention"):
        return Ignored(f"event {event.get('type')!r} is not a message")
    if event.get("bot_id") or event.get("subtype") == "bot_message":
        return Ignored("a bot wrote it")
    if event.get("subtype", "") not in PERSON_SUBTYPES:
        return Ignored(f"message subtype {event.get('subtype')!r} (edit, delete, join…)")
    if not event.get("user") or not event.get("ts"):
        return Ignored("no author")
    channel, ts, user = str(event.get("channel", "")), str(event["ts"]), str(event["user"])
    bot_user = bot_user_of(body)
    raw_text = str(event.get("text", ""))
    text = to_plain(raw_text, strip_user=bot_user)
    attachments = _attachments(event)
    in_thread = _is_thread_reply(event)
    root = str(event["thread_ts"]) if in_thread else ts
    name = _display_name(event)
    if in_thread and channel == settings.slack.triage_channel:
        # A person answering in a triage card's thread: the card's ts is the ticket key.
        return AgentMessage(
            channel=CHANNEL,
            external_id=thread_key(channel, ts),
            actor=Actor(CHANNEL, user, name),
            thread_keys=(root,),
            text=text,
            attachments=attachments,
        )
    addressed = event.get("type") == "app_mention" or mentions(raw_text, bot_user)
    intake = is_dm(event) or channel in settings.slack.intake_channels or addressed
    if not intake and not in_thread:
        return Ignored("not addressed to the bot outside intake channels")
    if not text and not attachments:
        return Ignored("empty message")
    if in_thread and not is_dm(event) and authorise(settings, CHANNEL, user):
        # An agent answering in the customer's thread: the customer has read it already, so it
        # is recorded as the public reply it is (and counts as an update), never sent again.
        return AgentMessage(
            channel=CHANNEL,
            external_id=thread_key(channel, ts),
            actor=Actor(CHANNEL, user, name),
            thread_keys=(thread_key(channel, root),),
            text=text,
            already_public=True,
        )
    return InboundMessage(
        channel=CHANNEL,
        external_id=thread_key(channel, ts),
        sender=Contact(CHANNEL, user, name),
        reply_target=ReplyTarget(CHANNEL, channel, root),
        text=text,
        subject="" if in_thread else subject_of(text),
        thread_keys=(thread_key(channel, root),) if in_thread else (),
        ticket_hint=ticket_hint(text),
        attachments=attachments,
        received_at=_received_at(ts),
        # Outside intake channels a thread is anyone's conversation unless it is a ticket's.
        join_only=not intake,
    )


def _field_answer(value: Json) -> str:
    if value.get("type") == "static_select":
        return str(((value.get("selected_option") or {}).get("value")) or "")
    return str(value.get("value") or "")


def form_answers(view: Json) -> dict[str, str]:
    """Answers of a submitted modal: block id -> text (the block id is the field name)."""
    answers: dict[str, str] = {}
    for block_id, actions in ((view.get("state") or {}).get("values") or {}).items():
        for value in actions.values():
            answer = _field_answer(value).strip()
            if answer:
                answers[str(block_id)] = answer
    return answers


def _decode_intake_form(body: Json, settings: Settings) -> Decoded:
    view = body.get("view") or {}
    user = body.get("user") or {}
    if not user.get("id"):
        return Ignored("form without a user")
    answers = form_answers(view)
    impact = answers.get("impact", "")
    return InboundMessage(
        channel=CHANNEL,
        external_id=f"view:{view.get('id', '')}",
        sender=Contact(
            CHANNEL, str(user["id"]), str(user.get("name") or user.get("username") or "")
        ),
        # The user id: send() opens the DM and the first reply's ts becomes the thread.
        reply_target=ReplyTarget(CHANNEL, str(user["id"]), ""),
        text="",  # the answers are the message: core lays them out with their labels
        fields=answers,
        priority=settings.intake.impact_priority.get(impact),
        note="submitted with the Slack intake form",
    )


def _decode_shortcut(body: Json) -> Decoded:
    message = body.get("message") or {}
    channel = str((body.get("channel") or {}).get("id", ""))
    agent = body.get("user") or {}
    by = str(agent.get("name") or agent.get("id") or "an agent")
    if not message.get("user") or message.get("bot_id") or not message.get("ts"):
        return Ignored("the message has no human author")
    ts = str(message["ts"])
    root = str(message.get("thread_ts") or ts)
    text = to_plain(str(message.get("text", "")))
    return InboundMessage(
        channel=CHANNEL,
        external_id=thread_key(channel, ts),
        sender=Contact(CHANNEL, str(message["user"]), _display_name(message)),
        reply_target=ReplyTarget(CHANNEL, channel, root),
        text=text,
        subject=subject_of(text),
        # If that thread is already a ticket, the message joins it instead of opening another.
        thread_keys=(thread_key(channel, root),),
        ticket_hint=ticket_hint(text),
        attachments=_attachments(message),
        received_at=_received_at(ts),
        note=f"opened from a message by {by}",
        # On the timeline, so agents see who took the request in and where.
        for_a_person=f"Logged as a ticket from a message in <#{channel}> by {by}.",
    )


def decode(payload: bytes, settings: Settings) -> Decoded:
    """Translate one stored payload. Never raises: anything unexpected is Ignored with a reason."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        return Ignored(f"not JSON: {exc}")
    if not isinstance(body, dict):
        return Ignored("not a JSON object")
    try:
        kind = body.get("type")
        if kind == "event_callback":
            return _decode_event(body, settings)
        if kind == "view_submission" and (body.get("view") or {}).get("callback_id") == INTAKE_VIEW:
            return _decode_intake_form(body, settings)
        if kind == "message_action" and body.get("callback_id") == OPEN_TICKET_SHORTCUT:
            return _decode_shortcut(body)
        return Ignored(f"payload type {kind!r} is not intake")
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        # Malformed but parseable: keep it stored, tell the operator why it did nothing.
        return Ignored(f"malformed Slack payload: {exc}")

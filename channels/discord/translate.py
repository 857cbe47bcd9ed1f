"""Pure Discord translation: stored message records -> core types, text splitting, command words."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.agents import Roster
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
from core.config import IntakeField, Settings

CHANNEL = "discord"
MESSAGE_LIMIT = 2000  # characters per Discord message
THREAD_NAME_LIMIT = 100
SUBJECT_LIMIT = 100
# Message types a person produces: DEFAULT and REPLY. Everything else (joins, pins, thread
# created notices, boosts, ...) is a system message and never opens a ticket.
PERSON_MESSAGE_TYPES = frozenset({0, 19})
# A thread outside the intake and triage channels is somebody's conversation, not ours, unless
# a ticket is answered there (Log as ticket): the adapter checks, and marks the record if so.
NOT_A_TICKET_THREAD = "ignore: not an intake thread, triage thread or a ticket's thread"


@dataclass(frozen=True)
class Routing:
    """Which channels mean what, and who the agents are; taken from settings."""

    intake_channels: frozenset[str]
    triage_channel: str
    agents: Roster = field(default_factory=Roster)

    @classmethod
    def from_settings(cls, settings: Settings) -> Routing:
        config = settings.discord
        return cls(
            frozenset(config.intake_channels), config.triage_channel, Roster.from_settings(settings)
        )

    def is_agent(self, actor: Actor) -> bool:
        return self.agents.authorise(CHANNEL, actor.user_id, actor.roles) is not None


@dataclass(frozen=True)
class FormSpec:
    """The quick intake template, as the modal showed it."""

    fields: tuple[IntakeField, ...]
    impact_priority: Mapping[str, str]


def where(record: Mapping[str, Any], routing: Routing) -> str:
    """Name the place a message record was written: dm, intake, intake_thread, triage_thread,
    or ticket_thread (a thread elsewhere that the adapter found to be a ticket's, and marked).

    Anything else comes back as "ignore: <reason>"; the adapter skips those before storing.
    """
    author = record.get("author") or {}
    if author.get("bot") or record.get("webhook_id"):
        return "ignore: written by a bot or webhook"
    if record.get("message_type", 0) not in PERSON_MESSAGE_TYPES:
        return f"ignore: system message (type {record.get('message_type')})"
    if not str(record.get("content", "")).strip() and not record.get("attachments"):
        return "ignore: empty message (is the message content intent enabled?)"
    channel_id = str(record.get("channel_id", ""))
    kind = record.get("channel_kind")
    if kind == "dm":
        return "dm"
    if kind == "text" and channel_id in routing.intake_channels:
        return "intake"
    if kind == "thread":
        parent = str(record.get("parent_id", ""))
        if parent in routing.intake_channels:
            return "intake_thread"
        if routing.triage_channel and parent == routing.triage_channel:
            return "triage_thread"
        return "ticket_thread" if record.get("ticket_thread") else NOT_A_TICKET_THREAD
    return "ignore: not an intake channel, intake thread or triage thread"


def _attachments(items: Iterable[Mapping[str, Any]]) -> tuple[Attachment, ...]:
    return tuple(
        Attachment(
            name=str(item.get("filename", "file")),
            content_type=str(item.get("content_type") or "application/octet-stream"),
            size=int(item.get("size", 0)),
            stored_at=str(item.get("url", "")),
        )
        for item in items
    )


def subject_of(text: str) -> str:
    """The first non-empty line, shortened: a readable ticket subject."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= SUBJECT_LIMIT else line[: SUBJECT_LIMIT - 1] + "…"
    return ""


def _actor(record: Mapping[str, Any]) -> Actor:
    author = record.get("author") or {}
    return Actor(
        CHANNEL,
        str(author.get("id", "")),
        str(author.get("name", "")),
        tuple(str(role) for role in record.get("roles", ())),
    )


def decode_message(record: Mapping[str, Any], routing: Routing) -> Decoded:
    """A stored message record -> what core understands."""
    place = where(record, routing)
    if place.startswith("ignore"):
        return Ignored(place.removeprefix("ignore: "))
    message_id = str(record["id"])
    channel_id = str(record["channel_id"])
    text = str(record.get("content", "")).strip()
    if place == "triage_thread":
        files = _attachments(record.get("attachments", ()))
        return AgentMessage(
            CHANNEL, message_id, _actor(record), (channel_id,), text, attachments=files
        )
    actor = _actor(record)
    if place in ("intake_thread", "ticket_thread") and routing.is_agent(actor):
        # An agent answering in the customer's public thread: the customer has read it, so it
        # is recorded as a public reply (an update) and never sent again.
        return AgentMessage(CHANNEL, message_id, actor, (channel_id,), text, already_public=True)
    sender = Contact(CHANNEL, actor.user_id, actor.name)
    reference = str(record.get("reference_id") or "")
    if place == "dm":
        target = ReplyTarget(CHANNEL, channel_id, "")
        # A Discord "reply" to one of our messages names that ticket more precisely than the DM.
        keys: tuple[str, ...] = (f"dm:{channel_id}",)
        keys = (reference, *keys) if reference else keys
    elif place == "intake":
        # The thread opened on this message gets the message's id, so replies find the ticket.
        target, keys = ReplyTarget(CHANNEL, channel_id, message_id), ()
    else:
        parent = str(record["parent_id"])
        target, keys = ReplyTarget(CHANNEL, parent, channel_id), (channel_id,)
    attachments = _attachments(record.get("attachments", ()))
    if not text and attachments:
        text = "(sent " + ", ".join(a.name for a in attachments) + ")"
    return InboundMessage(
        channel=CHANNEL,
        external_id=message_id,
        sender=sender,
        reply_target=target,
        text=text,
        subject=subject_of(text),
        thread_keys=keys,
        attachments=attachments,
        note=f"discord {place}",
        # Outside the intake channels a thread is Tidings' only while it is a ticket's.
        join_only=place == "ticket_thread",
    )


def decode_form(record: Mapping[str, Any], form: FormSpec) -> Decoded:
    """A `/ticket new` modal submission -> a new ticket answered in the person's DMs."""
    answers = {str(k): str(v).strip() for k, v in (record.get("fields") or {}).items()}
    missing = [f.label for f in form.fields if f.required and not answers.get(f.name)]
    if missing:
        return Ignored("form without required answers: " + ", ".join(missing))
    labelled = [(f.label, answers[f.name]) for f in form.fields if answers.get(f.name)]
    text = "\n\n".join(f"{label}\n{answer}" for label, answer in labelled)
    actor = _actor(record)
    dm_channel = str(record.get("dm_channel_id", ""))
    first = answers.get(form.fields[0].name, "") if form.fields else ""
    return InboundMessage(
        channel=CHANNEL,
        external_id=f"form:{record['id']}",  # the same key the raw payload was stored under
        sender=Contact(CHANNEL, actor.user_id, actor.name),
        reply_target=ReplyTarget(CHANNEL, dm_channel, ""),
        text=text,
        subject=subject_of(first or text),
        # No thread keys: the form always means a new ticket, even with one open in the DM.
        fields=answers,
        priority=form.impact_priority.get(answers.get("impact", "")),
        note="discord /ticket new form",
    )


def decode_logged(record: Mapping[str, Any]) -> Decoded:
    """A message an agent logged as a ticket ("Log as ticket") -> its author's ticket, answered
    in the message's thread (or DM). Unlike decode_message this ignores where it was written:
    the agent chose it, from any channel."""
    author = record.get("author") or {}
    if author.get("bot") or record.get("webhook_id"):
        return Ignored("written by a bot or webhook")
    message_id, channel_id = str(record["id"]), str(record["channel_id"])
    attachments = _attachments(record.get("attachments", ()))
    text = str(record.get("content", "")).strip()
    if not text and not attachments:
        return Ignored("empty message")
    if not text:
        text = "(sent " + ", ".join(a.name for a in attachments) + ")"
    kind = record.get("channel_kind")
    if kind == "dm":
        target, keys = ReplyTarget(CHANNEL, channel_id, ""), (f"dm:{channel_id}",)
    elif kind == "thread":
        parent = str(record["parent_id"])
        target, keys = ReplyTarget(CHANNEL, parent, channel_id), (channel_id,)
    else:
        # A thread is started on the message; it takes the message's id, the conversation key.
        target, keys = ReplyTarget(CHANNEL, channel_id, message_id), (message_id,)
    by = str((record.get("agent") or {}).get("name") or "an agent")
    return InboundMessage(
        channel=CHANNEL,
        external_id=message_id,
        sender=Contact(CHANNEL, str(author.get("id", "")), str(author.get("name", ""))),
        reply_target=target,
        text=text,
        subject=subject_of(text),
        thread_keys=keys,
        attachments=attachments,
        note=f"discord message logged as a ticket by {by}",
        for_a_person=f"Logged as a ticket from a message in <#{channel_id}> by {by}.",
    )


def decode(payload: bytes, routing: Routing, form: FormSpec) -> Decoded:
    """Decode a stored payload; never raises (a broken payload is Ignored with the reason)."""
    try:
        record = json.loads(payload)
        if not isinstance(record, dict):
            return Ignored("discord payload is not a JSON object")
        if record.get("type") == "form":
            return decode_form(record, form)
        if record.get("type") == "message":
            return decode_message(record, routing)
        if record.get("type") == "logged":
            return decode_logged(record)
        return Ignored(f"unknown discord payload type {record.get('type')!r}")
    except (ValueError, KeyError, TypeError) as exc:
        return Ignored(f"unreadable discord payload: {exc}")


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut text into messages of at most `limit` characters, at line breaks where possible."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            # One line longer than a message: cut at the last space that fits, else hard.
            cut = line.rfind(" ", 0, limit)
            cut = cut + 1 if cut > 0 else limit
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:cut])
            line = line[cut:]
        if len(current) + len(line) > limit:
            chunks.append(current)
            current = ""
        current += line
    if current:
        chunks.append(current)
    return [c.rstrip("\n") for c in chunks if c.strip()] or ([text[:limit]] if text else [])


def thread_name(ref: str, subject: str) -> str:
    name = f"{ref} {subject}".strip() or ref or "ticket"
    return name if len(name) <= THREAD_NAME_LIMIT else name[: THREAD_NAME_LIMIT - 1] + "…"


_QUOTE_BEFORE_SPACE = re.compile(r"[\"'“”](?=\s)")


def _quoted(value: str) -> str:
    """Quote `what` so the grammar knows where it ends and the customer's text begins.

    The grammar ends a quoted word at any quote mark followed by a space, so such marks
    inside the value are dropped.
    """
    value = _QUOTE_BEFORE_SPACE.sub("", " ".join(value.split())).strip("\"'“” ")
    return f'"{value}"'


def command_words(sub: str, options: Mapping[str, str | None]) -> str:
    """Typed slash-command options -> the agent command grammar ("eta T-1 tomorrow 10:00")."""

    def get(name: str) -> str:
        return (options.get(name) or "").strip()

    ticket = get("ticket").split(" ")[0]
    parts: Sequence[str]
    if sub in ("reply", "note"):
        parts = (sub, ticket, get("text"))
    elif sub == "eta":
        parts = (sub, ticket, get("when"), get("text"))
    elif sub == "wait":
        what, text = get("what"), get("text")
        parts = (sub, ticket, _quoted(what) if text else what, text)
    elif sub == "resolve":
        parts = (sub, ticket, get("text"))
    elif sub == "assign":
        parts = (sub, ticket, get("agent"))
    elif sub == "priority":
        parts = (sub, ticket, get("level"))
    elif sub == "list":
        parts = (sub, get("filter"))
    elif sub == "search":
        parts = (sub, get("words"))
    elif sub == "same":
        parts = (sub, ticket, get("other").split(" ")[0])
    elif sub == "incident":
        service = get("service")
        parts = (sub, get("title"), f"[{service}]" if service else "")
    elif sub == "link":
        parts = (sub, ticket, get("incident").split(" ")[0])
    else:
        parts = (sub, ticket)
    return " ".join(p for p in parts if p)

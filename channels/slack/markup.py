"""Slack text markup: escaping what we send, turning what we receive into plain text."""

from __future__ import annotations

import re

# Slack's control sequences: <@U123>, <#C123|name>, <!here>, <https://x|label>, <mailto:..|..>.
_CONTROL = re.compile(r"<([^<>]*)>")
_TICKET_TAG = re.compile(r"\[T-(\d+)\]", re.IGNORECASE)
MAX_TEXT = 39_000  # chat.postMessage refuses text over 40,000 characters (msg_too_long)


def escape(text: str) -> str:
    """Escape &, < and > so text can neither ping @channel/@here nor forge links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(match: re.Match[str]) -> str:
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):  # user mention
        return f"@{label or target[1:]}"
    if target.startswith("#"):  # channel link
        return f"#{label or target[1:]}"
    if target.startswith("!"):  # <!here>, <!channel>, <!subteam^S1|@team>, <!date^...|fallback>
        if label:
            return label
        return "@" + target[1:].split("^", 1)[0]
    if label and label != target:
        return f"{label} ({target})"
    return target


def to_plain(text: str, *, strip_user: str = "") -> str:
    """Slack mrkdwn as a person would read it; `strip_user`'s mention (the bot's) is removed."""
    if strip_user:
        text = re.sub(rf"<@{re.escape(strip_user)}(\|[^<>]*)?>\s*", "", text)
    return unescape(_CONTROL.sub(_plain, text)).strip()


def mentions(text: str, user_id: str) -> bool:
    return bool(user_id) and (f"<@{user_id}>" in text or f"<@{user_id}|" in text)


def ticket_hint(text: str) -> int | None:
    """The [T-42] tag a person quoted, if any."""
    match = _TICKET_TAG.search(text)
    return int(match.group(1)) if match else None


def subject_of(text: str, limit: int = 80) -> str:
    """A one-line subject from a message: its first non-empty line, shortened."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return ""


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """Keep a message under Slack's size limit rather than have it refused."""
    if len(text) <= limit:
        return text
    return text[: limit - 14].rstrip() + "\n…(shortened)"

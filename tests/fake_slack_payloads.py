"""Realistic Slack payloads (Events API, slash command, interactivity) and signed delivery."""

from __future__ import annotations

import itertools
import json
from typing import Any
from urllib.parse import urlencode

import aiohttp

from channels.slack.signing import signed_headers
from tests.fake_slack import BOT_ID, BOT_USER, TEAM

SECRET = "test-signing-secret-8f742231b10e"
_counter = itertools.count(1)


def new_ts() -> str:
    return f"1763900{next(_counter):03d}.000200"


def envelope(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """An event_callback as Slack POSTs it (shape from the Events API docs)."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": "A0TEST",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_counter):08d}",
        "event_time": int(float(event.get("ts", "1763900000"))),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM,
                "user_id": BOT_USER,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ",
    }


def message(
    user: str,
    channel: str,
    text: str,
    *,
    ts: str | None = None,
    thread_ts: str | None = None,
    channel_type: str = "channel",
    kind: str = "message",
    **extra: Any,
) -> dict[str, Any]:
    """A person's message event (DM: channel D…, channel_type im)."""
    ts = ts or new_ts()
    event: dict[str, Any] = {
        "client_msg_id": f"c0ffee{next(_counter):02d}-1111-2222-3333-444455556666",
        "type": kind,
        "text": text,
        "user": user,
        "ts": ts,
        "team": TEAM,
        "blocks": [{"type": "rich_text", "block_id": "b1", "elements": []}],
        "channel": channel,
        "event_ts": ts,
    }
    if kind == "message":
        event["channel_type"] = channel_type
    if thread_ts:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = user
    event.update(extra)
    return event


def file_share(
    user: str,
    channel: str,
    text: str,
    *,
    files: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A message with files (by default one screenshot on Slack's own file host; a test that
    runs the app passes files the fake serves, see FakeSlack.host_file)."""
    files = files or [
        {
            "id": "F0SCREEN1",
            "created": 1763900000,
            "name": "vpn-error.png",
            "title": "vpn-error.png",
            "mimetype": "image/png",
            "filetype": "png",
            "size": 48213,
            "mode": "hosted",
            "url_private": "https://files.slack.com/files-pri/T0TEST-F0SCREEN1/vpn-error.png",
        }
    ]
    return message(user, channel, text, subtype="file_share", files=files, upload=False, **extra)


def bot_message(channel: str, text: str, *, ours: bool = False) -> dict[str, Any]:
    if ours:  # our own posts come back with our bot user and bot id
        return message(BOT_USER, channel, text, bot_id=BOT_ID, app_id="A0TEST")
    event = message("", channel, text, subtype="bot_message", bot_id="B0OTHER", username="CI")
    del event["user"]
    return event


def message_changed(user: str, channel: str, ts: str, new_text: str) -> dict[str, Any]:
    edited = message(user, channel, new_text, ts=ts, edited={"user": user, "ts": new_ts()})
    event = message(user, channel, "", subtype="message_changed", hidden=True, message=edited)
    del event["user"]
    return event


def slash_command(user: str, name: str, text: str, *, channel: str = "C0GENERAL") -> str:
    """The form body of a slash command invocation."""
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "team_domain": "tidings-test",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": name,
            "command": "/ticket",
            "text": text,
            "api_app_id": "A0TEST",
            "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.com/commands/T0TEST/1/abc",
            "trigger_id": f"{next(_counter)}.1763900.abcdef",
        }
    )


def _interactive(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def _user(user: str, name: str) -> dict[str, str]:
    return {"id": user, "username": name, "name": name, "team_id": TEAM}


def button(user: str, name: str, action_id: str, ref: str, *, channel: str, card_ts: str) -> str:
    """block_actions for a click on a triage card button."""
    return _interactive(
        {
            "type": "block_actions",
            "user": _user(user, name),
            "api_app_id": "A0TEST",
            "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": card_ts, "channel_id": channel},
            "trigger_id": f"{next(_counter)}.1763900.feedbeef",
            "team": {"id": TEAM, "domain": "tidings-test"},
            "channel": {"id": channel, "name": "triage"},
            "message": {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": card_ts},
            "state": {"values": {}},
            "response_url": "https://hooks.slack.com/actions/T0TEST/1/xyz",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "tidings_card_1",
                    "text": {"type": "plain_text", "text": action_id},
                    "value": ref,
                    "type": "button",
                    "action_ts": "1763900999.000001",
                }
            ],
        }
    )


def view_submission(
    user: str, name: str, callback_id: str, values: dict[str, Any], *, metadata: str = ""
) -> str:
    """view_submission; `values` maps block id -> text, or ("select", option) for a choice."""
    state: dict[str, Any] = {}
    for block_id, value in values.items():
        if isinstance(value, tuple):
            option = {"text": {"type": "plain_text", "text": value[1]}, "value": value[1]}
            state[block_id] = {block_id: {"type": "static_select", "selected_option": option}}
        else:
            state[block_id] = {block_id: {"type": "plain_text_input", "value": value}}
    return _interactive(
        {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "tidings-test"},
            "user": _user(user, name),
            "api_app_id": "A0TEST",
            "token": "legacy-verification-token",
            "trigger_id": f"{next(_counter)}.1763900.cafe",
            "view": {
                "id": f"V0VIEW{next(_counter):04d}",
                "team_id": TEAM,
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": metadata,
                "state": {"values": state},
                "hash": "1763900000.abc",
                "app_id": "A0TEST",
                "bot_id": BOT_ID,
            },
            "response_urls": [],
            "is_enterprise_install": False,
        }
    )


def message_shortcut(
    user: str, name: str, original: dict[str, Any], *, response_url: str = ""
) -> str:
    """message_action: an agent used "Log as ticket" on `original` (a message event). Slack
    always sends a response_url; pass the fake's (FakeSlack.response_url) so answers to it are
    recorded, or leave it out to see the adapter do without."""
    return _interactive(
        {
            "type": "message_action",
            "token": "legacy-verification-token",
            "action_ts": "1763900999.000002",
            "team": {"id": TEAM, "domain": "tidings-test"},
            "user": {"id": user, "name": name},
            "channel": {"id": original["channel"], "name": "general"},
            "is_enterprise_install": False,
            "callback_id": "tidings_open_ticket",
            "trigger_id": f"{next(_counter)}.1763900.beef",
            "message_ts": original["ts"],
            "message": {k: v for k, v in original.items() if k not in ("channel", "channel_type")},
        }
        | ({"response_url": response_url} if response_url else {})
    )


async def post_signed(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any] | str,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    retry_num: int | None = None,
) -> tuple[int, str]:
    """POST `body` the way Slack does: JSON for events, a form for commands and interactivity."""
    if isinstance(body, dict):
        raw, content_type = json.dumps(body), "application/json"
    else:
        raw, content_type = body, "application/x-www-form-urlencoded"
    headers = signed_headers(
        secret, raw, timestamp=timestamp, content_type=content_type, retry_num=retry_num
    )
    async with session.post(url, data=raw.encode(), headers=headers) as response:
        return response.status, await response.text()

"""The shipped Slack app manifest asks for exactly what the adapter handles."""

from __future__ import annotations

import re
from pathlib import Path

from channels.slack.inbound import OPEN_TICKET_SHORTCUT
from core.config import SlackConfig

MANIFEST = Path(__file__).resolve().parent.parent / "slack-manifest.yml"


def listed(text: str, key: str) -> list[str]:
    """The `- item` entries of the YAML list under `key:` (comments dropped)."""
    block = re.search(rf"^(\s*){key}:\n((?:\1\s+- .*\n)+)", text, re.MULTILINE)
    assert block, f"{key} missing from the manifest"
    return [line.split("#")[0].strip()[2:].strip() for line in block.group(2).splitlines()]


def test_manifest_events_scopes_command_and_shortcut_match_the_adapter() -> None:
    text = MANIFEST.read_text()
    assert listed(text, "bot_events") == [
        "app_mention", "message.channels", "message.groups", "message.im",
    ]  # fmt: skip
    assert sorted(listed(text, "bot")) == sorted([
        "app_mentions:read", "channels:history", "groups:history", "im:history",
        "chat:write", "commands", "files:read", "files:write", "users:read", "users:read.email",
    ])  # fmt: skip
    assert f"command: {SlackConfig().command}" in text
    assert f"callback_id: {OPEN_TICKET_SHORTCUT}" in text
    shortcut = re.search(r"- name: (.+)\n\s+type: (\w+)\n\s+callback_id: (\S+)", text)
    assert shortcut and shortcut.groups() == ("Log as ticket", "message", OPEN_TICKET_SHORTCUT)
    urls = re.findall(r"(?:url|request_url): (\S+)", text)
    assert len(urls) == 3 and all(url.endswith("/slack/events") for url in urls)

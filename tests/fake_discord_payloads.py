"""Discord API object shapes (users, members, channels, messages, interactions) for the fake."""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1420070400000
_counter = itertools.count(1)


def snowflake() -> str:
    """A fresh, increasing Discord id whose timestamp part is now (as Discord's are)."""
    millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return str((millis << 22) | (next(_counter) % 4096))


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class FakeUser:
    """A person (or bot) in the fake Discord."""

    id: str
    name: str
    roles: tuple[str, ...] = ()
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name.title(),
            "avatar": None,
        }
        if self.bot:
            data["bot"] = True
        return data

    def member(self) -> dict[str, Any]:
        return {
            "user": self.payload(),
            "roles": list(self.roles),
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "permissions": "2248473465835073",
        }


@dataclass
class FakeGuild:
    """One guild with a few text channels and roles."""

    id: str
    name: str = "Acme"
    channels: dict[str, str] = field(default_factory=dict)  # name -> id
    roles: dict[str, str] = field(default_factory=dict)  # name -> id

    def channel_payload(self, name: str, channel_id: str) -> dict[str, Any]:
        return {
            "id": channel_id,
            "type": 0,
            "guild_id": self.id,
            "name": name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def role_payloads(self) -> list[dict[str, Any]]:
        everyone = {"id": self.id, "name": "@everyone"}
        named = [{"id": rid, "name": name} for name, rid in self.roles.items()]
        return [
            {
                **role,
                "permissions": "2248473465835073",
                "position": index,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
            for index, role in enumerate([everyone, *named])
        ]

    def create_payload(
        self, members: list[FakeUser], threads: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """GUILD_CREATE: channels, roles, members, and the active (not archived) threads."""
        return {
            "id": self.id,
            "name": self.name,
            "unavailable": False,
            "icon": None,
            "owner_id": members[0].id if members else self.id,
            "member_count": len(members),
            "large": False,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "features": [],
            "channels": [self.channel_payload(n, cid) for n, cid in self.channels.items()],
            "threads": threads or [],
            "roles": self.role_payloads(),
            "members": [m.member() for m in members],
            "emojis": [],
            "stickers": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_flags": 0,
        }


def message_payload(
    *,
    author: FakeUser,
    channel_id: str,
    content: str,
    guild_id: str | None,
    message_id: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    embeds: list[dict[str, Any]] | None = None,
    components: list[dict[str, Any]] | None = None,
    message_type: int = 0,
    reference: str | None = None,
) -> dict[str, Any]:
    """A message object as REST returns it; with guild_id and member as MESSAGE_CREATE sends it."""
    data: dict[str, Any] = {
        "id": message_id or snowflake(),
        "channel_id": channel_id,
        "author": author.payload(),
        "content": content,
        "timestamp": iso_now(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments or [],
        "embeds": embeds or [],
        "components": components or [],
        "pinned": False,
        "type": message_type,
        "flags": 0,
    }
    if reference:
        data["message_reference"] = {"message_id": reference, "channel_id": channel_id}
    if guild_id:
        data["guild_id"] = guild_id
        member = author.member()
        member.pop("user")
        data["member"] = member
    return data


def attachment_payload(filename: str, content_type: str, size: int) -> dict[str, Any]:
    attachment_id = snowflake()
    return {
        "id": attachment_id,
        "filename": filename,
        "content_type": content_type,
        "size": size,
        "url": f"https://cdn.discordapp.com/attachments/1/{attachment_id}/{filename}",
        "proxy_url": f"https://media.discordapp.net/attachments/1/{attachment_id}/{filename}",
    }


def thread_payload(
    *, thread_id: str, parent_id: str, guild_id: str, name: str, owner: str
) -> dict[str, Any]:
    return {
        "id": thread_id,
        "type": 11,
        "guild_id": guild_id,
        "parent_id": parent_id,
        "name": name,
        "owner_id": owner,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "flags": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 10080,
            "archive_timestamp": iso_now(),
            "locked": False,
        },
    }


def interaction_payload(
    *,
    kind: int,
    application_id: str,
    user: FakeUser,
    channel: dict[str, Any],
    guild_id: str | None,
    data: dict[str, Any],
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """INTERACTION_CREATE: 2 command, 3 component, 4 autocomplete, 5 modal submit."""
    payload: dict[str, Any] = {
        "id": snowflake(),
        "application_id": application_id,
        "type": kind,
        "data": data,
        "channel_id": channel["id"],
        "channel": channel,
        "token": "itoken-" + secrets.token_hex(12),
        "version": 1,
        "app_permissions": "2248473465835073",
        "locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": guild_id or user.id},
        "context": 0 if guild_id else 1,
        "attachment_size_limit": 10485760,
    }
    if guild_id:
        payload["guild_id"] = guild_id
        payload["guild_locale"] = "en-US"
        payload["member"] = user.member()
    else:
        payload["user"] = user.payload()
    if message is not None:
        payload["message"] = message
    return payload

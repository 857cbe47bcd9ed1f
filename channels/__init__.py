"""Channel adapters: email, Slack and Discord, each translating to and from the core's types."""

from __future__ import annotations

from core.channel import Channel
from core.config import Settings


def build_channels(settings: Settings) -> list[Channel]:
    """The adapters that are enabled in `settings`, imported only when enabled."""
    channels: list[Channel] = []
    if settings.email.enabled:
        from channels.email import EmailChannel

        channels.append(EmailChannel(settings))
    if settings.slack.enabled:
        from channels.slack import SlackChannel

        channels.append(SlackChannel(settings))
    if settings.discord.enabled:
        from channels.discord import DiscordChannel

        channels.append(DiscordChannel(settings))
    return channels

"""Discord adapter: DMs and intake channels in, threads and triage cards out, /ticket commands."""

from channels.discord.channel import DiscordChannel

__all__ = ["DiscordChannel"]

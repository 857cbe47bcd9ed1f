"""Slack channel adapter: bolt intake (HTTP or Socket Mode), threaded replies, triage cards."""

from channels.slack.channel import SlackChannel

__all__ = ["SlackChannel"]

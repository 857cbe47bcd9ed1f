"""What `check-config` says: problems that stop Tidings, warnings, and a short summary."""

from __future__ import annotations

from collections.abc import Sequence

from core.config import DEMO_AGENT, AgentConfig, Settings, format_duration
from core.context import Context
from core.pages.tokens import page_key


def config_problems(settings: Settings) -> list[str]:
    """Settings that cannot work together; `check-config` fails on any of these."""
    slack, discord = settings.slack, settings.discord
    problems = []
    if slack.enabled and not slack.bot_token:
        problems.append("slack.enabled but slack.bot_token is empty")
    if slack.enabled and slack.mode == "http" and not slack.signing_secret:
        problems.append("slack.mode is http but slack.signing_secret is empty")
    if slack.enabled and slack.mode == "socket" and not slack.app_token:
        problems.append("slack.mode is socket but slack.app_token is empty")
    if discord.enabled and not discord.token:
        problems.append("discord.enabled but discord.token is empty")
    try:
        Context(settings)
    except Exception as exc:  # a bad timezone or opening hours
        problems.append(f"reminders.business_hours: {exc}")
    return problems


def config_warnings(settings: Settings) -> list[str]:
    """Settings that work but probably do not do what the operator meant."""
    warnings = []
    slack, discord = settings.slack, settings.discord
    if not slack.enabled and (slack.bot_token or slack.signing_secret or slack.app_token):
        warnings.append(
            "Slack tokens are set but slack.enabled is false, so Slack stays off; "
            "set [slack] enabled = true (or TIDINGS_SLACK__ENABLED=true)"
        )
    if not discord.enabled and discord.token:
        warnings.append(
            "discord.token is set but discord.enabled is false, so Discord stays off; "
            "set [discord] enabled = true (or TIDINGS_DISCORD__ENABLED=true)"
        )
    warnings.extend(_page_link_warnings(settings))
    warnings.extend(
        f"agents.{name}.digest is set but agents.{name}.email is empty: the digest has no "
        "mailbox to go to"
        for name, ids in sorted(settings.agents.items()) if ids.digest and not ids.email
    )  # fmt: skip
    if not settings.agents:
        warnings.append(
            "no agents are configured ([agents.<name>]): nobody may act on tickets, and "
            "`assign` has nobody to assign to"
        )
    elif settings.agents == {DEMO_AGENT: AgentConfig()}:
        warnings.append(
            f"no agents are configured ([agents.<name>]): only the built-in demo agent "
            f"{DEMO_AGENT} may act, and only from the command line"
        )
    return warnings


def _page_link_warnings(settings: Settings) -> list[str]:
    """Customers get their ticket page's link only with a public address and a key."""
    web, email = settings.web, settings.email
    if email.enabled and email.outbound.transport == "smtp" and not web.public_url:
        return [
            "email goes out for real ([email.outbound] transport = smtp) but [web] public_url "
            "is empty: customers' messages carry no link to their ticket's page"
        ]
    if web.public_url and page_key(settings) is None:
        return [
            "[web] public_url is set but [web] secret and admin_token are empty: ticket page "
            "links need a key, so customers' messages carry none; set [web] secret"
        ]
    return []


def config_summary(settings: Settings) -> list[str]:
    enabled = [name for name in ("email", "slack", "discord") if getattr(settings, name).enabled]
    cadence = settings.reminders.cadence
    email = settings.email
    sender = f"{email.from_name} <{email.from_address}>" if email.from_name else email.from_address
    return [
        f"configuration OK; channels enabled: {', '.join(enabled) or 'none'}",
        f"database: {settings.database.url.split('@')[-1]}",
        f"mail from: {sender}",
        "cadence: " + ", ".join(
            f"{name} {format_duration(getattr(cadence, name))}"
            for name in ("urgent", "high", "normal", "low")
        ),
        f"agents: {', '.join(sorted(settings.agents)) or 'none configured'}",
        *_digest_lines(settings),
    ]  # fmt: skip


def _digest_lines(settings: Settings) -> list[str]:
    """Which agents get new tickets as a mail digest, and how often (none: one by one)."""
    chosen = [f"{name} every {format_duration(ids.digest)}"
              for name, ids in sorted(settings.agents.items()) if ids.digest]  # fmt: skip
    return [f"agents' mail digests: {', '.join(chosen)}"] if chosen else []


def assign_without_agents(settings: Settings, words: Sequence[str]) -> str:
    """With no agents configured, `assign T-1 bob` names nobody Tidings knows: refuse it."""
    if settings.agents or len(words) < 3 or words[0].lower() != "assign":
        return ""
    return (
        f'cannot assign to "{words[2]}": no agents are configured; add [agents.{words[2]}] to '
        "the configuration (or use `take` to take the ticket yourself)"
    )

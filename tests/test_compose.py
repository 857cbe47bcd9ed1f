"""compose.yaml works as written: every variable it sets is a setting, and they load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.config import environment_warnings, load_settings

COMPOSE = Path(__file__).resolve().parent.parent / "compose.yaml"
_SETTING = re.compile(r"^\s+(TIDINGS_[A-Z_]+):\s*(.*?)\s*$", re.MULTILINE)
_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def _compose_environment(dotenv: dict[str, str]) -> dict[str, str]:
    """The tidings service's environment as Compose interpolates it from an .env file."""

    def value(match: re.Match[str]) -> str:
        name, kind, rest = match.group(1), match.group(2), match.group(3)
        if dotenv.get(name):
            return dotenv[name]
        if kind == "?":
            raise LookupError(rest)
        return rest or ""

    found = {}
    for name, raw in _SETTING.findall(COMPOSE.read_text()):
        found[name] = _VARIABLE.sub(value, raw.strip("'\""))
    return found


def test_compose_with_a_relay_and_slack_sends_real_mail_and_turns_slack_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dotenv = {
        "POSTGRES_PASSWORD": "pw",
        "SUPPORT_ADDRESS": "help@example.com",
        "SUPPORT_NAME": "Example Support",
        "SMTP_RELAY_HOST": "smtp.example.com",
        "SLACK_ENABLED": "true",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
    }
    environment = _compose_environment(dotenv)
    assert environment_warnings(environment) == []
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(None)
    assert settings.database.url == "postgresql+asyncpg://tidings:pw@db/tidings"
    assert settings.email.outbound.transport == "smtp"
    assert settings.email.outbound.host == "smtp.example.com"
    assert settings.email.outbound.port == 587 and settings.email.outbound.starttls
    assert settings.email.addresses == ["help@example.com"]
    assert (settings.email.from_name, settings.email.from_address) == (
        "Example Support",
        "help@example.com",
    )
    assert settings.slack.enabled and not settings.discord.enabled


def test_compose_refuses_to_start_without_a_relay() -> None:
    with pytest.raises(LookupError, match="SMTP_RELAY_HOST"):
        _compose_environment({"POSTGRES_PASSWORD": "pw"})


def test_compose_restarts_and_publishes_the_mail_port() -> None:
    text = COMPOSE.read_text()
    assert text.count("restart: unless-stopped") == 2
    assert '"${SMTP_PORT:-25}:2525"' in text

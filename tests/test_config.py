"""Configuration: TOML, environment overrides, unknown keys and durations."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.config import ConfigError, format_duration, load_settings, parse_duration

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def test_defaults_need_no_file() -> None:
    settings = load_settings(None)
    assert settings.database.url.endswith("var/tidings.db")
    assert settings.email.enabled and settings.email.port == 2525
    assert settings.email.addresses == ["support@localhost"]
    assert settings.email.outbound.transport == "maildir"
    assert not settings.slack.enabled and not settings.discord.enabled
    assert settings.web.port == 8080


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("4h", 14400), ("2d", 172800), (30, 30)]
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_bad_duration_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[reminders]\ntick = "soon"\n')
    with pytest.raises(ConfigError, match=r"reminders\.tick: .*not a duration"):
        load_settings(path)


def test_unknown_key_is_rejected_by_name(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[email]\nhosst = "0.0.0.0"\n')
    with pytest.raises(ConfigError, match=r"email\.hosst: unknown key"):
        load_settings(path)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[email]\nport = 2600\n[reminders.cadence]\nurgent = "30m"\n')
    monkeypatch.setenv("TIDINGS_EMAIL__PORT", "2700")
    monkeypatch.setenv("TIDINGS_EMAIL__OUTBOUND__TRANSPORT", "smtp")
    monkeypatch.setenv("TIDINGS_CONFIG", str(path))
    settings = load_settings(None)
    assert settings.email.port == 2700
    assert settings.email.outbound.transport == "smtp"
    assert settings.reminders.cadence.urgent == timedelta(minutes=30)


def test_missing_file_and_bad_toml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[email\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)


def test_example_config_loads_and_documents_every_key() -> None:
    settings = load_settings(EXAMPLE)
    text = EXAMPLE.read_text()
    for section in ("database", "email", "slack", "discord", "web", "reminders"):
        for key in type(getattr(settings, section)).model_fields:
            assert f"{key} =" in text or f"[{section}.{key}]" in text, (
                f"{section}.{key} undocumented"
            )


def test_format_duration_round_trips() -> None:
    for text in ("90s", "15m", "4h", "2d", "1w"):
        assert format_duration(parse_duration(text)) == text


def test_agents_map_platform_ids() -> None:
    settings = load_settings(None, agents={"alice": {"slack": "U1", "email": "a@example.com"}})
    assert settings.agent_for("slack", "U1") == "alice"
    assert settings.agent_for("slack", "U2") is None
    assert settings.agent_for("discord", "") is None

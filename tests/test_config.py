"""Configuration: TOML, environment overrides, unknown keys and durations."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.agents import authorise
from core.config import (
    ConfigError,
    environment_warnings,
    format_duration,
    load_settings,
    parse_duration,
)

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
    settings = load_settings(
        None, agents={"alice": {"slack": "U1", "email": "a@example.com"}}, web={"secret": "s"}
    )
    found = authorise(settings, "slack", "U1")
    assert found is not None and found.name == "alice"
    assert authorise(settings, "slack", "U2") is None
    assert authorise(settings, "discord", "") is None


def test_an_unknown_key_suggests_the_nearest_known_one(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[reminders.cadence]\nurgnet = "1h"\n[agents.alice]\nslak = "U1"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "reminders.cadence.urgnet: unknown key (did you mean reminders.cadence.urgent?)" in (
        str(caught.value)
    )
    assert "agents.alice.slak: unknown key (did you mean agents.alice.slack?)" in str(caught.value)


def test_an_unknown_tidings_variable_is_named() -> None:
    environ = {
        "TIDINGS_EMAL__PORT": "2600",  # once silently ignored
        "TIDINGS_EMAIL__PORT": "2700",
        "TIDINGS_CONFIG": "tidings.toml",
        "TIDINGS_AGENTS__BOB__SLACK": "UBOB",
        "PATH": "/bin",
    }
    assert environment_warnings(environ) == [
        "TIDINGS_EMAL__PORT is not a setting and is ignored (did you mean TIDINGS_EMAIL__PORT?)"
    ]


@pytest.mark.parametrize(("written", "read"), [("9:00", "09:00"), ("17:30", "17:30")])
def test_opening_hours_accept_a_one_digit_hour(tmp_path: Path, written: str, read: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(f'[reminders.business_hours]\nopen = "{written}"\n')
    assert load_settings(path).reminders.business_hours.open == read


@pytest.mark.parametrize("written", ["9am", "25:00", "09:60", "nine"])
def test_bad_opening_hours_get_a_sentence_not_a_pattern(tmp_path: Path, written: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(f'[reminders.business_hours]\nclose = "{written}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert f"reminders.business_hours.close: '{written}' is not a time of day" in message
    assert "24-hour clock" in message and "pattern" not in message


def test_from_address_with_a_display_name_is_split(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[email]\nfrom_address = "Example Support <help@example.com>"\n')
    email = load_settings(path).email
    assert (email.from_name, email.from_address) == ("Example Support", "help@example.com")
    named = load_settings(None, email={"from_address": "help@example.com", "from_name": "Desk"})
    assert named.email.from_name == "Desk"


@pytest.mark.parametrize(
    "written",
    ["help@example.com, other@example.com", "support", "Support <>", "a b@example.com"],
)
def test_a_from_address_that_is_not_one_address_is_refused(written: str) -> None:
    with pytest.raises(ConfigError, match="is not one mail address"):
        load_settings(None, email={"from_address": written})


def test_agents_have_display_names() -> None:
    settings = load_settings(None, agents={"alice": {"display_name": "Alice Smith"}})
    assert settings.agents["alice"].display_name == "Alice Smith"

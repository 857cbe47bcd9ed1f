"""Settings: a TOML file, overridden by TIDINGS_<SECTION>__<KEY> environment variables."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import timedelta
from email.utils import getaddresses
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.config_keys import keys_at, nearest, unknown_environment

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key and the problem."""


def parse_duration(value: object) -> timedelta:
    """Read "90s", "15m", "4h", "2d", "1w" (or a number of seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    raise ValueError(f'{value!r} is not a duration; write it like "90s", "15m", "4h" or "2d"')


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration, for messages and check-config output."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Section(BaseModel):
    """Base for config sections: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class DatabaseConfig(Section):
    url: str = "sqlite+aiosqlite:///var/tidings.db"


class OutboundMailConfig(Section):
    transport: Literal["smtp", "maildir"] = "maildir"
    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    username: str = ""
    password: str = ""
    maildir: str = "var/outbox"


class EmailConfig(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 2525
    addresses: list[str] = Field(default_factory=lambda: ["support@localhost"])
    max_message_bytes: int = 10 * 1024 * 1024
    # The address our mail comes from (also the envelope sender), and the name shown with it.
    from_address: str = "support@localhost"
    from_name: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    attachments_dir: str = "var/attachments"
    outbound: OutboundMailConfig = Field(default_factory=OutboundMailConfig)

    @model_validator(mode="after")
    def _split_display_name(self) -> EmailConfig:
        """`from_address = "Example Support <support@example.com>"` is read as a name and an
        address; anything that is not one address is refused (it is the envelope sender)."""
        found = getaddresses([self.from_address])
        name, address = found[0] if len(found) == 1 else ("", "")
        if "@" not in address or any(c in address for c in ' <>,;"\r\n'):
            raise ValueError(
                f"from_address {self.from_address!r} is not one mail address; write it as "
                '"support@example.com" and put the name in from_name'
            )
        if name and self.from_name and name != self.from_name:
            raise ValueError(
                f"from_address names {name!r} but from_name is {self.from_name!r}; keep one"
            )
        self.from_address, self.from_name = address, self.from_name or name
        return self


class SlackConfig(Section):
    enabled: bool = False
    mode: Literal["http", "socket"] = "http"
    bot_token: str = ""
    signing_secret: str = ""
    app_token: str = ""
    api_url: str = "https://slack.com/api/"
    intake_channels: list[str] = Field(default_factory=list)
    triage_channel: str = ""
    command: str = "/ticket"


class DiscordConfig(Section):
    enabled: bool = False
    token: str = ""
    application_id: str = ""
    guild: str = ""
    api_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    intake_channels: list[str] = Field(default_factory=list)
    triage_channel: str = ""
    agent_roles: list[str] = Field(default_factory=list)


class WebConfig(Section):
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    # Statistics page: `Authorization: Bearer <admin_token>` opens it; signed links are signed
    # with `secret`, or with a key derived from admin_token when secret is empty.
    admin_token: str = ""
    secret: str = ""


class LogConfig(Section):
    """`[log]`: how much to log, and as text lines or JSON lines (one object a line)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


class CadenceConfig(Section):
    urgent: Duration = timedelta(hours=1)
    high: Duration = timedelta(hours=4)
    normal: Duration = timedelta(days=1)
    low: Duration = timedelta(days=3)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_clock(value: object) -> str:
    """Opening hours as "HH:MM" on a 24-hour clock; "9:00" is read as "09:00"."""
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match and int(match.group(1)) <= 23 and int(match.group(2)) <= 59:
        return f"{int(match.group(1)):02d}:{match.group(2)}"
    raise ValueError(
        f'{value!r} is not a time of day; write it on a 24-hour clock like "09:00" or "17:30"'
    )


ClockTime = Annotated[str, BeforeValidator(parse_clock)]


class BusinessHoursConfig(Section):
    """Opening hours. With `days` empty the desk is always open (cadence in wall-clock time)."""

    timezone: str = "UTC"
    days: list[Weekday] = Field(default_factory=list)
    open: ClockTime = "09:00"
    close: ClockTime = "17:00"
    holidays: list[str] = Field(default_factory=list)  # ISO dates, "2026-12-25"


class RemindersConfig(Section):
    tick: Duration = timedelta(seconds=30)
    # How long an ETA notice waits before it is sent; a newer one queued meanwhile replaces it.
    settle: Duration = timedelta(seconds=5)
    waiting_cadence: Duration = timedelta(days=1)
    nudge_before: Duration = timedelta(minutes=15)
    max_automatic_per_day: int = Field(default=4, ge=1)
    reopen_window: Duration = timedelta(days=7)
    templates_dir: str = ""
    cadence: CadenceConfig = Field(default_factory=CadenceConfig)
    business_hours: BusinessHoursConfig = Field(default_factory=BusinessHoursConfig)


class RepliesConfig(Section):
    """`[replies]`: the folder of saved replies, one `<name>.j2` each (`reply T-42 @name`)."""

    dir: str = ""


class AgentConfig(Section):
    display_name: str = ""  # how customers see them ("— Alice Smith, support"); else the key
    slack: str = ""
    discord: str = ""
    email: str = ""
    # Mail new-ticket notices to this agent as one digest per period instead of one by one
    # (core/delivery/digest.py); "0s", the default, mails each as it arrives.
    digest: Duration = Field(default=timedelta(0), ge=timedelta(0))


class IntakeField(Section):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    style: Literal["short", "long", "choice"] = "short"
    choices: list[str] = Field(default_factory=list)
    required: bool = True
    placeholder: str = ""


def _default_intake_fields() -> list[IntakeField]:
    return [
        IntakeField(
            name="what",
            label="What is wrong?",
            style="long",
            placeholder="What you tried to do, and what happened instead",
        ),
        IntakeField(
            name="impact",
            label="How much does it block you?",
            style="choice",
            choices=["I can't work", "Slows me down", "Just annoying"],
        ),
        IntakeField(
            name="since",
            label="Since when, and what is affected?",
            style="short",
            required=False,
            placeholder="e.g. since this morning, the VPN on my laptop",
        ),
    ]


Priority = Literal["urgent", "high", "normal", "low"]


def _default_impact_priority() -> dict[str, Priority]:
    return {"I can't work": "high", "Slows me down": "normal", "Just annoying": "low"}


class IntakeConfig(Section):
    """The quick intake template shown as a Slack modal, a Discord modal, documented for email."""

    fields: list[IntakeField] = Field(default_factory=_default_intake_fields)
    # How each answer of the `impact` choice maps to a priority.
    impact_priority: dict[str, Priority] = Field(default_factory=_default_impact_priority)
    # Acknowledgements one address may receive in an hour: beyond it a new ticket is still
    # opened, but not acknowledged (so the desk cannot be made to mail someone over and over).
    acks_per_address_per_hour: int = Field(default=5, ge=1)
    # The largest file kept from a chat message (Slack, Discord) or sent on to a customer with
    # an agent's reply; a larger one is recorded by name, and the agent is told.
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1)


class CsatConfig(Section):
    """`[csat]`: the one satisfaction question after resolution."""

    enabled: bool = True
    # At most 5: the statistics read a rating as its event's first character, 1–5.
    scale: int = Field(default=5, ge=2, le=5)


class IncidentsConfig(Section):
    """`[incidents]`: when similar new tickets suggest one outage (a "possible incident" card)."""

    # This many similar tickets, opened within `suggest_window` of each other, make one card.
    suggest_after: int = Field(default=3, ge=2, le=50)
    suggest_window: Duration = timedelta(minutes=30)


DEMO_AGENT = "alice"

_config_path: ContextVar[str | None] = ContextVar("tidings_config_path", default=None)


class Settings(BaseSettings):
    """Everything Tidings can be told. See config.example.toml for every key with its meaning."""

    model_config = SettingsConfigDict(
        env_prefix="TIDINGS_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    discord: DiscordConfig = Field(default_factory=DiscordConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    reminders: RemindersConfig = Field(default_factory=RemindersConfig)
    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    replies: RepliesConfig = Field(default_factory=RepliesConfig)
    csat: CsatConfig = Field(default_factory=CsatConfig)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)

    @model_validator(mode="after")
    def _agent_mail_is_signed(self) -> Settings:
        """Agents answer notices by mail through signed reply addresses: without a key to sign
        them with, anyone could answer as an agent by writing their From address."""
        if self.email.enabled and not (self.web.secret or self.web.admin_token):
            with_mail = sorted(name for name, ids in self.agents.items() if ids.email)
            if with_mail:
                raise ValueError(
                    f"agents.{with_mail[0]}.email: agent notices carry reply addresses signed "
                    "with web.secret; set web.secret (any long random string)"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file; pydantic-settings ignores toml_file unless added here.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_path.get()
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            guess = nearest(str(item["loc"][-1]), keys_at(Settings, item["loc"][:-1]))
            hint = f" (did you mean {'.'.join([*key.split('.')[:-1], guess])}?)" if guess else ""
            lines.append(f"{key}: unknown key{hint}")
        else:
            lines.append(f"{key}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def environment_warnings(environ: Mapping[str, str] | None = None) -> list[str]:
    """TIDINGS_* variables that set nothing (a typo like TIDINGS_EMAL__PORT), each a sentence."""
    return unknown_environment(Settings, os.environ if environ is None else environ)


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Load settings from `path`, else $TIDINGS_CONFIG, else the built-in defaults."""
    chosen = str(path) if path else os.environ.get("TIDINGS_CONFIG") or None
    if chosen:
        file = Path(chosen)
        if not file.is_file():
            raise ConfigError(f"config file {chosen} does not exist")
        try:
            with file.open("rb") as handle:
                tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {chosen} is not valid TOML: {exc}") from exc
    token = _config_path.set(chosen)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        where = chosen or "the built-in defaults"
        raise ConfigError(f"config ({where} + environment): {_describe(exc)}") from exc
    finally:
        _config_path.reset(token)
    if chosen is None and not settings.agents:
        # The built-in defaults come with one demo agent, so the README's first commands work;
        # it has no Slack, Discord or email id, so only the command line can act as it.
        settings.agents = {DEMO_AGENT: AgentConfig()}
    return settings

"""Customer and agent texts: Jinja2 templates shipped with Tidings, overridable by the operator."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context as TemplateContext

from core.clock import Clock, SystemClock

if TYPE_CHECKING:
    from core.config import Settings

SHIPPED = Path(__file__).parent / "templates"
# How often, at most, the operator's folder is looked at for changed, added or removed
# templates. Jinja's own check stats the template's file for every message rendered, which a
# fan-out to 5,000 customers pays 5,000 times; the shipped templates are part of the install
# and are read once.
RECHECK_SECONDS = 1.0

# Reply and forward prefixes and our own ticket tags that a mail subject picks up in a thread;
# a customer reads "Login broken", not "Re: [T-1] Login broken". Bounded: 40 rounds at most.
_SUBJECT_NOISE = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|tr|rif)\s*(?:\[\d{1,4}\])?\s*:|\[\s*T-\d{1,12}\s*\])",
    re.IGNORECASE,
)


def clean_subject(subject: str) -> str:
    """The subject as the customer first wrote it: without "Re:", "Fwd:" or "[T-42]"."""
    text = " ".join(subject.split())
    for _ in range(40):
        match = _SUBJECT_NOISE.match(text)
        if not match:
            break
        text = text[match.end() :].strip()
    return text


class Texts:
    """Renders `<name>.j2`; a file of the same name in `templates_dir` wins over the shipped one.

    Templates are compiled once and kept. The `templates_dir` folder is looked at (one listing)
    at most once a second while messages are rendered: a template edited, added or removed
    there is in use within a second, without a restart. (The shipped ones change only with a
    new install, which is a restart.)

    `clock` says what "now" is when the caller gives none (a date in another year shows its
    year); `people` maps an agent's config key to the name customers see; `team` is how the
    team signs ("— Alice, support")."""

    def __init__(
        self,
        templates_dir: str = "",
        timezone: str = "UTC",
        *,
        clock: Clock | None = None,
        people: Mapping[str, str] | None = None,
        team: str = "support",
    ) -> None:
        self.templates_dir = templates_dir
        # The time source of the folder check (a test moves it by hand).
        self.ticker: Callable[[], float] = time.monotonic
        self._checked_at: float | None = None
        self._seen: tuple[tuple[str, int, int], ...] = ()
        loaders = [FileSystemLoader(templates_dir)] if templates_dir else []
        loaders.append(FileSystemLoader(SHIPPED))
        self.tz = ZoneInfo(timezone)
        self.clock: Clock = clock or SystemClock()
        self.people = dict(people or {})
        self.team = team
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            undefined=StrictUndefined,
            autoescape=False,  # plain text; each adapter escapes for its platform
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=False,  # see _check_folder: no stat of the file for every message
        )
        self.env.filters["when"] = self._when_filter
        self.env.filters["person"] = self.person

    @classmethod
    def for_settings(cls, settings: Settings, clock: Clock | None = None) -> Texts:
        """Texts as configured: templates folder, timezone, agents' display names, team name."""
        reminders = settings.reminders
        people = {name: agent.display_name for name, agent in settings.agents.items()}
        return cls(
            reminders.templates_dir,
            reminders.business_hours.timezone,
            clock=clock,
            people={name: shown for name, shown in people.items() if shown},
            team=settings.email.from_name or "support",
        )

    def when(
        self, moment: datetime | None, now: datetime | None = None, *, zone: bool = True
    ) -> str:
        """A time the way a person says it: "Tue 24 Nov, 15:00 (Europe/Berlin)", and with the
        year ("Thu 15 Apr 2027, 12:26 (UTC)") when it is not this year."""
        if moment is None:
            return "not set"
        local = moment.astimezone(self.tz)
        this_year = (now or self.clock.now()).astimezone(self.tz).year
        day = f"{local:%a} {local.day} {local:%b}"
        if local.year != this_year:
            day += f" {local.year}"
        return f"{day}, {local:%H:%M}" + (f" ({self.tz.key})" if zone else "")

    @pass_context
    def _when_filter(
        self, context: TemplateContext, moment: datetime | None, zone: bool = True
    ) -> str:
        now = context.get("now")
        return self.when(moment, now if isinstance(now, datetime) else None, zone=zone)

    def person(self, agent: str) -> str:
        """The name customers see for an agent: their display_name, else their config key."""
        return self.people.get(agent) or agent

    def _check_folder(self) -> None:
        """At most once per RECHECK_SECONDS: when the operator's folder changed since the last
        look (a file's name, time or size), forget the compiled templates."""
        now = self.ticker()
        if self._checked_at is not None and now - self._checked_at < RECHECK_SECONDS:
            return
        self._checked_at = now
        seen = _listing(self.templates_dir)
        if seen != self._seen:
            self._seen = seen
            if self.env.cache is not None:
                self.env.cache.clear()

    def render(self, template: str, **context: Any) -> str:
        if self.templates_dir:
            self._check_folder()
        context.setdefault("now", self.clock.now())
        context.setdefault("team", self.team)
        if isinstance(context.get("subject"), str):
            context["subject"] = clean_subject(context["subject"])
        text = self.env.get_template(f"{template}.j2").render(**context)
        # Templates are written for reading; collapse the blank lines their logic leaves behind.
        lines = [line.rstrip() for line in text.strip().splitlines()]
        out: list[str] = []
        for line in lines:
            if line or (out and out[-1]):
                out.append(line)
        return "\n".join(out)


def _listing(folder: str) -> tuple[tuple[str, int, int], ...]:
    """The folder's templates as (name, modification time, size); empty when it is missing."""
    found = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.endswith(".j2"):
                    stat = entry.stat()
                    found.append((entry.name, stat.st_mtime_ns, stat.st_size))
    except OSError:  # missing, or a file removed while listed: seen as a change, looked at again
        return ()
    return tuple(sorted(found))

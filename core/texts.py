"""Customer and agent texts: Jinja2 templates shipped with Tidings, overridable by the operator."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

SHIPPED = Path(__file__).parent / "templates"


class Texts:
    """Renders `<name>.j2`; a file of the same name in `templates_dir` wins over the shipped one."""

    def __init__(self, templates_dir: str = "", timezone: str = "UTC") -> None:
        loaders = [FileSystemLoader(templates_dir)] if templates_dir else []
        loaders.append(FileSystemLoader(SHIPPED))
        self.tz = ZoneInfo(timezone)
        self.env = Environment(
            loader=ChoiceLoader(loaders),
            undefined=StrictUndefined,
            autoescape=False,  # plain text; each adapter escapes for its platform
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters["when"] = self.when

    def when(self, moment: datetime | None) -> str:
        """A time the way a person says it: "Tue 24 Nov, 15:00 (Europe/Berlin)"."""
        if moment is None:
            return "not set"
        local = moment.astimezone(self.tz)
        zone = "UTC" if self.tz.key == "UTC" else self.tz.key
        return f"{local:%a %d %b, %H:%M} ({zone})"

    def render(self, template: str, **context: Any) -> str:
        context.setdefault("now", datetime.now(UTC))
        text = self.env.get_template(f"{template}.j2").render(**context)
        # Templates are written for reading; collapse the blank lines their logic leaves behind.
        lines = [line.rstrip() for line in text.strip().splitlines()]
        out: list[str] = []
        for line in lines:
            if line or (out and out[-1]):
                out.append(line)
        return "\n".join(out)

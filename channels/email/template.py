"""The intake template by email: "Impact: I can't work" lines at the top of a new message.

The convention (documented in docs/email.md): among the first lines of the message, a line
`<field name or label>: <answer>` fills that template field, e.g.

    Impact: I can't work
    Since: this morning, the VPN on my laptop

Choice answers must be one of the configured choices (any letter case); the impact answer sets
the ticket's priority through `intake.impact_priority`. Lines that filled a field are taken out
of the text (the core shows answers with their labels); anything else stays as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEAD_LINES = 15  # only the top of the message: a "Since:" deep in a quoted thread is not an answer
_LINE = re.compile(r"^\s*([^:\n]{1,80}?)\s*:\s*(\S.*?)\s*$")


@dataclass(frozen=True, slots=True)
class TemplateField:
    name: str
    label: str
    choices: tuple[str, ...] = ()


def _key(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").rstrip("?").split())


def read_fields(text: str, fields: tuple[TemplateField, ...]) -> tuple[dict[str, str], str]:
    """(answers by field name, the text without the answer lines)."""
    if not fields:
        return {}, text
    by_key: dict[str, TemplateField] = {}
    for field_spec in fields:
        by_key[_key(field_spec.name)] = field_spec
        by_key[_key(field_spec.label)] = field_spec
    answers: dict[str, str] = {}
    lines = text.split("\n")
    kept: list[str] = []
    seen = 0
    for line in lines:
        if line.strip():
            seen += 1
        match = _LINE.match(line) if seen <= HEAD_LINES else None
        spec = by_key.get(_key(match.group(1))) if match else None
        if match and spec and spec.name not in answers:
            answer = match.group(2)
            if spec.choices:
                chosen = [c for c in spec.choices if c.lower() == answer.lower()]
                if not chosen:
                    kept.append(line)
                    continue
                answer = chosen[0]
            answers[spec.name] = answer
            continue
        kept.append(line)
    return answers, "\n".join(kept).strip() if answers else text

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

from dataclasses import dataclass

HEAD_LINES = 15  # only the top of the message: a "Since:" deep in a quoted thread is not an answer
MAX_LABEL = 80  # a field label longer than this is prose, not an answer line


@dataclass(frozen=True, slots=True)
class TemplateField:
    name: str
    label: str
    choices: tuple[str, ...] = ()


def _key(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").rstrip("?").split())


def split_answer(line: str) -> tuple[str, str] | None:
    """`(label, answer)` of a `label: answer` line, else None.

    String operations rather than a regular expression: customer text with long runs of
    spaces made the pattern this replaces backtrack quadratically (a 40 KB line took minutes).
    """
    label, colon, answer = line.partition(":")
    label, answer = label.strip(), answer.strip()
    if not colon or not label or not answer or len(label) > MAX_LABEL:
        return None
    return label, answer


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
        pair = split_answer(line) if seen <= HEAD_LINES else None
        spec = by_key.get(_key(pair[0])) if pair else None
        if pair and spec and spec.name not in answers:
            answer = pair[1]
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

"""Block Kit modals: the quick intake template, and the Set ETA / Waiting forms of a card."""

from __future__ import annotations

import json
from typing import Any

from channels.slack.inbound import INTAKE_VIEW
from core.config import IntakeField

ETA_VIEW, WAIT_VIEW = "tidings_eta_form", "tidings_wait_form"

View = dict[str, Any]


def _plain(text: str, limit: int) -> dict[str, str]:
    return {"type": "plain_text", "text": text[:limit]}


def _element(field: IntakeField) -> dict[str, Any]:
    if field.style == "choice":
        element: dict[str, Any] = {
            "type": "static_select",
            "options": [{"text": _plain(c, 75), "value": c[:150]} for c in field.choices],
        }
    else:
        element = {"type": "plain_text_input", "multiline": field.style == "long"}
    element["action_id"] = field.name
    if field.placeholder:
        element["placeholder"] = _plain(field.placeholder, 150)
    return element


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": _plain(label, 2000),
        "element": element,
    }


def intake_modal(fields: list[IntakeField]) -> View:
    """The intake template (same fields as every channel) as a modal; block id = field name."""
    return {
        "type": "modal",
        "callback_id": INTAKE_VIEW,
        "title": _plain("Report a problem", 24),
        "submit": _plain("Send", 24),
        "close": _plain("Cancel", 24),
        "blocks": [_input(f.name, f.label, _element(f), optional=not f.required) for f in fields],
    }


def _text_input(action_id: str, placeholder: str, *, multiline: bool = False) -> dict[str, Any]:
    return {
        "type": "plain_text_input",
        "action_id": action_id,
        "multiline": multiline,
        "placeholder": _plain(placeholder, 150),
    }


def eta_modal(ref: str, channel: str) -> View:
    """Set ETA: when, and an optional message the customer receives with it."""
    return {
        "type": "modal",
        "callback_id": ETA_VIEW,
        "private_metadata": json.dumps({"ref": ref, "channel": channel}),
        "title": _plain(f"ETA for {ref}", 24),
        "submit": _plain("Set ETA", 24),
        "blocks": [
            _input(
                "when",
                "When will it be fixed?",
                _text_input("when", "tomorrow 15:00, in 2h, 2026-12-01 09:00"),
                optional=False,
            ),
            _input(
                "text",
                "Message to the customer",
                _text_input("text", "What we are doing", multiline=True),
                optional=True,
            ),
        ],
    }


def wait_modal(ref: str, channel: str) -> View:
    """Waiting: on what (the customer is told), and an optional message."""
    return {
        "type": "modal",
        "callback_id": WAIT_VIEW,
        "private_metadata": json.dumps({"ref": ref, "channel": channel}),
        "title": _plain(f"Waiting: {ref}", 24),
        "submit": _plain("Save", 24),
        "blocks": [
            _input(
                "what",
                "What are we waiting on?",
                _text_input("what", "the vendor's fix"),
                optional=False,
            ),
            _input(
                "text",
                "Message to the customer",
                _text_input("text", "Anything else they should know", multiline=True),
                optional=True,
            ),
        ],
    }


def form_words(callback_id: str, ref: str, answers: dict[str, str]) -> tuple[str, str]:
    """The command-grammar words for a submitted ETA / Waiting form, and its main field's id."""
    text = answers.get("text", "")
    if callback_id == ETA_VIEW:
        when = answers.get("when", "")
        return "when", " ".join(part for part in ("eta", ref, when, text) if part)
    what = answers.get("what", "")
    if not text:
        return "what", f"wait {ref} {what}".strip()
    # The grammar reads a quoted <what> before the text; keep quote marks inside it from
    # ending the quote early by turning them into their typographic forms.
    what = what.replace('"', "“").replace("”", "“").replace("'", "’")
    return "what", f"wait {ref} “{what}” {text}"

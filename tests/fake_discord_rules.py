"""Discord's documented limits on what a bot sends, checked by the fake like Discord checks them.

Each function returns the problems it found (empty when the payload would be accepted); the
fake answers those with 400 / 50035 "Invalid Form Body", as Discord does.
"""

from __future__ import annotations

import re
from typing import Any

NAME = re.compile(r"^[-_\w]{1,32}$")  # command and option names (lowercase for slash commands)


def _length(problems: list[str], where: str, value: Any, most: int, least: int = 0) -> None:
    if value is None:
        return
    if not least <= len(value) <= most:
        problems.append(f"{where}: length {len(value)} not in {least}..{most}")


def command_problems(commands: list[dict[str, Any]]) -> list[str]:
    """Bulk command overwrite: names, descriptions, option counts and order."""
    problems: list[str] = []
    slash = [c for c in commands if c.get("type", 1) == 1]
    if len(slash) > 100:
        problems.append("more than 100 commands")
    for command in slash:
        _options(problems, command["name"], command, depth=0)
    for kind, label in ((2, "user"), (3, "message")):
        menus = [c for c in commands if c.get("type") == kind]
        if len(menus) > 5:
            problems.append(f"more than 5 {label} context menu commands")
        for menu in menus:
            _context_menu(problems, menu)
    return problems


def _context_menu(problems: list[str], menu: dict[str, Any]) -> None:
    """User and message commands: a name as people read it (spaces and capitals allowed),
    no description and no options."""
    name = menu.get("name", "")
    _length(problems, f"{name}: name", name, 32, 1)
    if name != name.strip():
        problems.append(f"{name!r}: name with leading or trailing spaces")
    if menu.get("description"):
        problems.append(f"{name}: context menu commands take no description")
    if menu.get("options"):
        problems.append(f"{name}: context menu commands take no options")


def _options(problems: list[str], where: str, node: dict[str, Any], depth: int) -> None:
    name = node.get("name", "")
    if not NAME.match(name) or name != name.lower():
        problems.append(f"{where}: bad name {name!r}")
    _length(problems, f"{where}.description", node.get("description", ""), 100, 1)
    options = node.get("options") or []
    if len(options) > 25:
        problems.append(f"{where}: more than 25 options")
    seen_optional = False
    for option in options:
        inner = f"{where}.{option.get('name')}"
        if option.get("type") in (1, 2):
            if depth >= 2:
                problems.append(f"{inner}: subcommands nested too deep")
            _options(problems, inner, option, depth + 1)
            continue
        _options(problems, inner, {**option, "options": []}, depth + 1)
        if option.get("required"):
            if seen_optional:
                problems.append(f"{inner}: required option after an optional one")
        else:
            seen_optional = True
        choices = option.get("choices") or []
        if len(choices) > 25:
            problems.append(f"{inner}: more than 25 choices")
        if choices and option.get("autocomplete"):
            problems.append(f"{inner}: choices and autocomplete together")
        for choice in choices:
            _length(problems, f"{inner} choice", choice.get("name"), 100, 1)


def component_problems(rows: list[dict[str, Any]], *, modal: bool = False) -> list[str]:
    problems: list[str] = []
    if len(rows) > 5:
        problems.append(f"{len(rows)} top-level components; at most 5")
    for row in rows:
        kind = row.get("type")
        if kind == 1:
            children = row.get("components") or []
            if not 1 <= len(children) <= 5:
                problems.append(f"action row with {len(children)} components")
            for child in children:
                _component(problems, child)
        elif kind == 18 and modal:
            _length(problems, "label", row.get("label"), 45, 1)
            _length(problems, "label description", row.get("description"), 100)
            _component(problems, row.get("component") or {})
        else:
            problems.append(f"component type {kind} not allowed at the top level here")
    return problems


def _component(problems: list[str], item: dict[str, Any]) -> None:
    kind = item.get("type")
    _length(problems, "custom_id", item.get("custom_id"), 100, 1)
    if kind == 2:
        _length(problems, "button label", item.get("label"), 80)
    elif kind == 3:
        options = item.get("options") or []
        if not 1 <= len(options) <= 25:
            problems.append(f"select with {len(options)} options")
        for option in options:
            _length(problems, "select option label", option.get("label"), 100, 1)
            _length(problems, "select option value", option.get("value"), 100, 1)
        _length(problems, "select placeholder", item.get("placeholder"), 150)
    elif kind == 4:
        _length(problems, "text input label", item.get("label"), 45)
        _length(problems, "text input placeholder", item.get("placeholder"), 100)
        _length(problems, "text input value", item.get("value"), 4000)
        if not 1 <= item.get("max_length", 4000) <= 4000:
            problems.append("text input max_length not in 1..4000")
    else:
        problems.append(f"component type {kind} unknown")


def message_problems(body: dict[str, Any]) -> list[str]:
    """A message create/edit or an interaction message response."""
    problems: list[str] = []
    _length(problems, "content", body.get("content"), 2000)
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        problems.append("more than 10 embeds")
    for embed in embeds:
        _length(problems, "embed title", embed.get("title"), 256)
        _length(problems, "embed description", embed.get("description"), 4096)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            problems.append("more than 25 embed fields")
        for item in fields:
            _length(problems, "embed field name", item.get("name"), 256, 1)
            _length(problems, "embed field value", item.get("value"), 1024, 1)
        _length(problems, "embed footer", (embed.get("footer") or {}).get("text"), 2048)
    problems += component_problems(body.get("components") or [])
    return problems


def callback_problems(body: dict[str, Any]) -> list[str]:
    """An interaction response: its type, and the message, modal or choices it carries."""
    kind, data = body.get("type"), body.get("data") or {}
    if kind in (4, 7):
        return message_problems(data)
    if kind in (5, 6):
        return []
    if kind == 8:
        choices = data.get("choices") or []
        problems = ["more than 25 choices"] if len(choices) > 25 else []
        for choice in choices:
            _length(problems, "choice name", choice.get("name"), 100, 1)
        return problems
    if kind == 9:
        problems = []
        _length(problems, "modal title", data.get("title"), 45, 1)
        _length(problems, "modal custom_id", data.get("custom_id"), 100, 1)
        rows = data.get("components") or []
        if not rows:
            problems.append("modal without components")
        return problems + component_problems(rows, modal=True)
    return [f"interaction response type {kind} unknown"]

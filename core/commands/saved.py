"""Saved replies: `reply T-42 @vpn-reset` sends `vpn-reset.j2` from `[replies] dir`; `replies`.

The files are Jinja2 rendered in a sandbox (they are data, and may come from anyone who can
write to the folder) as plain text, with only the ticket's fields available; a field the
template names but the ticket does not have is an error, never an empty gap in a message.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context as TemplateContext
from jinja2.sandbox import SandboxedEnvironment

from core.channel import CommandReply
from core.commands import customer
from core.commands.act import Act
from core.commands.grammar import CommandError
from core.storage.models import Contact, Ticket

SUFFIX = ".j2"
REPEAT_LIMIT = 1000
# The whole reply text is `@name`: a saved reply. Anything else is sent as written.
_SAVED = re.compile(r"@([A-Za-z0-9][A-Za-z0-9_-]{0,63})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class _Sandbox(SandboxedEnvironment):
    """The stock sandbox, and no way to build a huge value: `"x" * 10**9` or `9 ** 9 ** 9`."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: TemplateContext, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("powers are not allowed in a saved reply")
        text, times = (left, right) if isinstance(left, str) else (right, left)
        if isinstance(text, str) and isinstance(times, int) and len(text) * times > REPEAT_LIMIT:
            raise SecurityError(f"a saved reply repeats text to at most {REPEAT_LIMIT} characters")
        if not isinstance(left, int | float | str) or not isinstance(right, int | float | str):
            raise SecurityError("only numbers and text may be multiplied in a saved reply")
        return super().call_binop(context, operator, left, right)


def saved_name(text: str) -> str | None:
    """The saved reply a reply text names (`@vpn-reset`), or None for a written reply."""
    match = _SAVED.fullmatch(text.strip())
    return match.group(1) if match else None


def _folder(act: Act) -> Path:
    configured = act.ctx.settings.replies.dir
    if not configured:
        raise CommandError("no saved replies: set [replies] dir to a folder of .j2 files")
    folder = Path(configured)
    if not folder.is_dir():
        raise CommandError(f"the saved replies folder {configured} does not exist")
    return folder


def saved_reply_names(configured: str) -> list[str]:
    """The saved replies in the folder `[replies] dir` names (none when it is unset or gone):
    for autocomplete, which must not fail while an agent types."""
    folder = Path(configured) if configured else None
    return _names(folder) if folder is not None and folder.is_dir() else []


def _names(folder: Path) -> list[str]:
    return sorted(
        path.name.removesuffix(SUFFIX)
        for path in folder.glob(f"*{SUFFIX}")
        if path.is_file() and _NAME.fullmatch(path.name.removesuffix(SUFFIX))
    )


async def fields(act: Act, ticket: Ticket) -> dict[str, Any]:
    """What a saved reply may use: the ticket as the customer knows it."""
    texts = act.ctx.texts
    requester = await act.session.get(Contact, ticket.requester_id)
    name = (requester.name or requester.address) if requester else ""
    return {
        "ref": ticket.ref,
        "subject": ticket.subject,
        "status": str(ticket.status),
        "priority": str(ticket.priority),
        "requester": name,
        # The reply makes its sender the assignee when nobody holds the ticket yet.
        "assignee": texts.person(ticket.assignee or act.agent),
        "eta": texts.when(ticket.eta, act.now) if ticket.eta else "",
        "waiting_on": ticket.waiting_on or "",
    }


async def render(act: Act, ticket: Ticket, name: str) -> str:
    folder = _folder(act)
    known = _names(folder)
    if name not in known:
        listed = ", ".join(known) or "none"
        raise CommandError(f'there is no saved reply "{name}"; saved replies: {listed}')
    environment = _Sandbox(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        autoescape=False,  # plain text; each channel escapes for its platform
        keep_trailing_newline=False,
    )
    try:
        template = environment.get_template(name + SUFFIX)
        text = template.render(**await fields(act, ticket)).strip()
    except TemplateNotFound as exc:  # removed between the listing and the read
        raise CommandError(f'there is no saved reply "{name}"') from exc
    except TemplateError as exc:
        raise CommandError(f'saved reply "{name}" cannot be used: {exc.message}') from exc
    except Exception as exc:  # the file is code we did not write: 1/0, a too-big range, …
        problem = f"{type(exc).__name__}: {exc}"
        raise CommandError(f'saved reply "{name}" cannot be used: {problem}') from exc
    if not text:
        raise CommandError(f'saved reply "{name}" is empty for {ticket.ref}; nothing was sent')
    return text


async def reply(act: Act, ticket: Ticket) -> CommandReply:
    """`reply`: a written reply as before; `@name` alone sends that saved reply, rendered."""
    name = saved_name(act.command.text)
    if name is None:
        return await customer.reply(act, ticket)
    text = await render(act, ticket, name)
    answered = await customer.reply(replace(act, command=replace(act.command, text=text)), ticket)
    if answered.ok:
        return replace(answered, text=f'saved reply "{name}" sent to {ticket.ref}')
    return answered


async def replies(act: Act) -> CommandReply:
    """`replies`: every saved reply's name and the first line it says."""
    try:
        folder = _folder(act)
    except CommandError as exc:
        return CommandReply(False, str(exc))
    lines = [f"@{name} — {_first_line(folder / (name + SUFFIX))}" for name in _names(folder)]
    if not lines:
        return CommandReply(True, f"no saved replies in {folder}; add <name>{SUFFIX} files")
    return CommandReply(True, "\n".join(lines))


def _first_line(path: Path) -> str:
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(unreadable: {exc.strerror})"
    first = next((line.strip() for line in source.splitlines() if line.strip()), "(empty)")
    return first[:80] + ("…" if len(first) > 80 else "")

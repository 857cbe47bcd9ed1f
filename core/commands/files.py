"""Agents' files: a reply that carries them to the customer, within the size limit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from core.channel import Attachment, CommandReply
from core.commands.act import done
from core.commands.customer import answer
from core.commands.grammar import CommandError
from core.config import Settings
from core.context import Context
from core.delivery.enqueue import alert_agents, refresh_cards
from core.intake.files import is_remote, too_large
from core.storage.models import EventKind, Ticket, Visibility
from core.tickets.timeline import add_event, keep_files

FILE_NOT_SENT = "file_not_sent"  # the alert kind (and template) naming a file that stayed


def sort_files(
    settings: Settings, files: Sequence[Attachment]
) -> tuple[tuple[Attachment, ...], list[tuple[str, str]]]:
    """The files that can go to a customer, and (name, why not) for each one that cannot."""
    limit = settings.intake.max_attachment_bytes
    sendable: list[Attachment] = []
    refused: list[tuple[str, str]] = []
    for item in files:
        if item.problem:
            refused.append((item.name, item.problem))
        elif item.size > limit:
            refused.append((item.name, too_large(item.size, limit)))
        elif not item.stored_at or is_remote(item):
            refused.append((item.name, "its content could not be kept"))
        else:
            sendable.append(item)
    return tuple(sendable), refused


def listing(files: Sequence[Attachment]) -> str:
    return "(sent " + ", ".join(item.name for item in files) + ")"


async def reply_with_files(
    ctx: Context,
    session: AsyncSession,
    ticket: Ticket,
    agent: str,
    text: str,
    files: Sequence[Attachment],
) -> CommandReply:
    """An agent's public reply carrying files (from a card thread; any other place where agents
    attach files calls this too): each file within `[intake] max_attachment_bytes` goes to the
    customer on their channel with the text; each one that cannot go is named to the agents
    in the card thread, and the text still goes. Nothing is dropped silently."""
    sendable, refused = sort_files(ctx.settings, files)
    if not text.strip() and not sendable:
        if refused:
            await _tell_agents(ctx, session, ticket, refused, sent=False)
        return CommandReply(False, f"nothing sent to {ticket.ref}: no text, and no file fit")
    try:
        said = await answer(ctx, session, ticket, agent, text, attachments=sendable,
                            event_text=text.strip() or listing(sendable))  # fmt: skip
    except CommandError as exc:
        return CommandReply(False, str(exc), ticket.ref)
    keep_files(session, ticket.id, said.id, sendable)
    if refused:
        await _tell_agents(ctx, session, ticket, refused, sent=True)
    return done(ticket, f"reply sent to {ticket.ref} with {len(sendable)} file(s)")


async def note_with_files(
    ctx: Context,
    session: AsyncSession,
    ticket: Ticket,
    agent: str,
    text: str,
    files: Sequence[Attachment],
) -> CommandReply:
    """An internal note with files: kept on the ticket for agents, never sent to the customer."""
    kept = [item for item in files if item.stored_at and not is_remote(item)]
    missing = [f"File {i.name!r} was not kept: {i.problem}." for i in files if i.problem]
    body = "\n".join(part for part in (text.strip() or listing(files), *missing) if part)
    note = await add_event(session, ticket, EventKind.NOTE, body, ctx.now(),
                           visibility=Visibility.INTERNAL, author=agent)  # fmt: skip
    keep_files(session, ticket.id, note.id, kept)
    await refresh_cards(ctx, session, ticket)
    return done(ticket, f"note added to {ticket.ref} with {len(kept)} file(s)")


async def _tell_agents(
    ctx: Context, session: AsyncSession, ticket: Ticket, refused: list[tuple[str, str]], *,
    sent: bool,
) -> None:  # fmt: skip
    text = ctx.texts.render(FILE_NOT_SENT, ref=ticket.ref, files=refused, sent=sent)
    await alert_agents(ctx, session, ticket, FILE_NOT_SENT, text)

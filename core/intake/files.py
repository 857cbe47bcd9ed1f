"""Files named by URL in chat messages (Slack, Discord): fetched once, bounded, kept on disk."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from core.agents import authorise
from core.channel import (
    AgentMessage,
    Attachment,
    Channel,
    Decoded,
    FetchesFiles,
    FileTooLarge,
    InboundMessage,
)
from core.config import Settings
from core.storage.db import Database
from core.tickets.refs import ticket_by_keys

log = logging.getLogger(__name__)

# Seconds one file may take to arrive. The message waits for its files (so a reply carrying
# them is complete), but never for longer than this: the platform was acknowledged already.
FETCH_TIMEOUT = 30.0
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def size_text(size: int) -> str:
    """A file size as people read it: 812 bytes, 48 KB, 12.5 MB."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def too_large(size: int, limit: int) -> str:
    return f"it is larger than the {size_text(limit)} limit ({size_text(size)})"


def is_remote(attachment: Attachment) -> bool:
    return attachment.stored_at.startswith(("https://", "http://")) and not attachment.problem


def stored_path(directory: str, channel: str, message_id: str, index: int, name: str) -> Path:
    """Where a message's file is kept: the same path on a second attempt, so a retry
    overwrites instead of duplicating, and no customer-chosen name can leave the folder."""
    digest = hashlib.sha256(f"{channel}\0{message_id}".encode()).hexdigest()
    safe = _SAFE_NAME.sub("_", name).strip("._")[:100] or "file"
    return Path(directory) / channel / digest[:2] / digest[2:20] / f"{index:02d}-{safe}"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def _fetch_one(
    channel: FetchesFiles, settings: Settings, message_id: str, index: int, item: Attachment
) -> Attachment:
    """One file fetched and written; on any failure the attachment says why (never raises)."""
    limit = settings.intake.max_attachment_bytes
    if item.size > limit:
        return dataclasses.replace(item, stored_at="", problem=too_large(item.size, limit))
    try:
        data = await asyncio.wait_for(channel.fetch_file(item, limit), FETCH_TIMEOUT)
        path = stored_path(settings.email.attachments_dir, channel.name, message_id, index,
                           item.name)  # fmt: skip
        await asyncio.to_thread(_write, path, data)
    except FileTooLarge:
        return dataclasses.replace(item, stored_at="", problem=too_large(item.size, limit))
    except TimeoutError:
        reason = f"the download took longer than {FETCH_TIMEOUT:.0f} s"
        return dataclasses.replace(item, stored_at="", problem=reason)
    except Exception as exc:  # a file's trouble must not stop its message
        log.warning("%s: could not fetch %r: %r", channel.name, item.name, exc)
        reason = f"the download failed ({type(exc).__name__}: {exc})"[:300]
        return dataclasses.replace(item, stored_at="", problem=reason)
    return dataclasses.replace(item, stored_at=str(path), size=len(data))


def file_notes(attachments: Sequence[Attachment]) -> str:
    """The note recording every file that was not kept, naming each; "" when all were."""
    lines = [f"File {a.name!r} was not kept: {a.problem}." for a in attachments if a.problem]
    return "\n".join(lines)


async def with_files(channel: Channel | None, result: Decoded, settings: Settings) -> Decoded:
    """The message with its remote files fetched and stored locally (in parallel); files that
    could not be kept carry their reason, and a customer's are noted for a person."""
    if not isinstance(result, InboundMessage | AgentMessage):
        return result
    if not any(is_remote(item) for item in result.attachments):
        return result
    if not isinstance(channel, FetchesFiles):
        return result  # the URL stays on the record: nothing here can fetch it
    fetched = await asyncio.gather(
        *(
            _fetch_one(channel, settings, result.external_id, index, item)
            if is_remote(item)
            else asyncio.sleep(0, item)
            for index, item in enumerate(result.attachments)
        )
    )
    if isinstance(result, AgentMessage):
        return dataclasses.replace(result, attachments=tuple(fetched))
    notes = "\n".join(part for part in (result.for_a_person, file_notes(fetched)) if part)
    return dataclasses.replace(result, attachments=tuple(fetched), for_a_person=notes)


def has_remote(result: Decoded | Exception) -> bool:
    """Whether a decoded row names files by URL (which are fetched before it is applied)."""
    return isinstance(result, InboundMessage | AgentMessage) and any(
        is_remote(item) for item in result.attachments
    )


async def names_a_ticket(db: Database, channel: str, keys: tuple[str, ...]) -> bool:
    """Whether any of `keys` is a ticket's conversation on `channel`."""
    async with db.sessions() as session:
        return await ticket_by_keys(session, channel, keys) is not None


async def worth_fetching(db: Database, settings: Settings, result: Decoded) -> bool:
    """Files are fetched for messages that land on a ticket: an agent's in a card thread, a
    customer's that may open or join one; not a stranger's thread reply the desk will ignore,
    nor a non-agent's words in a card thread (nobody fills the disk through the desk)."""
    if isinstance(result, AgentMessage):
        actor = result.actor
        return authorise(settings, actor.channel, actor.user_id, actor.roles) is not None
    if isinstance(result, InboundMessage) and result.join_only:
        return await names_a_ticket(db, result.channel, result.thread_keys)
    return isinstance(result, InboundMessage)


async def fetch_all(
    channels: Mapping[str, Channel],
    rows: Sequence[tuple[int, Decoded | Exception]],
    settings: Settings,
    db: Database,
) -> list[tuple[int, Decoded | Exception]]:
    """Every row of a decoded part with its files fetched; rows without files pass as they are."""
    if not any(has_remote(result) for _, result in rows):
        return list(rows)

    async def one(row_id: int, result: Decoded | Exception) -> tuple[int, Decoded | Exception]:
        if isinstance(result, Exception) or not has_remote(result):
            return row_id, result
        if not await worth_fetching(db, settings, result):
            return row_id, result
        channel = channels.get(getattr(result, "channel", ""))
        return row_id, await with_files(channel, result, settings)

    return list(await asyncio.gather(*(one(row_id, result) for row_id, result in rows)))

"""Ticket page links: one token per ticket, derived with the desk's secret, stored only hashed.

Why derived and not random: a link must go into every message to the customer (the
acknowledgement and every later update), and a random token stored only as its hash cannot be
recovered for the second message. So the token is HMAC-SHA256(key, ticket id), 192 bits, key
from `[web] secret` (or, when that is empty, derived from `[web] admin_token`). The database
holds only SHA-256(token): a copy of the database alone opens no page, and the page looks a
token up by its hash, never by the ticket number.

The trade-off: whoever holds the secret can compute every ticket's link, and a link cannot be
revoked on its own (only by changing the secret). Changing the secret keeps old links working
(their hashes stay) while new messages carry new links (their hashes are added on first use).
Outbox rows hold each message as it was sent, link included, as the customer's mailbox does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.config import Settings
from core.storage.models import Base, BigId, UTCDateTime, table_of
from core.tickets.refs import insert_ignore

TOKEN_BYTES = 24  # 192 bits
# What a token looks like in a URL; anything else is not looked up at all.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")


class TicketToken(Base):
    """The hash of a ticket page token (a ticket may have more than one after a key change)."""

    __tablename__ = "ticket_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


def page_key(settings: Settings) -> bytes | None:
    """The key tokens are derived with, or None when none is configured."""
    web = settings.web
    if web.secret:
        return hmac.new(web.secret.encode(), b"tidings ticket page", hashlib.sha256).digest()
    if web.admin_token:
        return hashlib.sha256(b"tidings ticket page\0" + web.admin_token.encode()).digest()
    return None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class PageLinks:
    """Makes the links of ticket pages: `public_url` is where customers reach the web server."""

    public_url: str
    key: bytes

    def token(self, ticket_id: int) -> str:
        digest = hmac.new(self.key, f"ticket:{ticket_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:TOKEN_BYTES]).decode()

    def url(self, ticket_id: int) -> str:
        return f"{self.public_url.rstrip('/')}/t/{self.token(ticket_id)}"

    def row(self, ticket_id: int, now: datetime) -> dict[str, Any]:
        """The token table's row for the ticket (for the grouped inserts at opening)."""
        return {"ticket_id": ticket_id, "token_hash": token_hash(self.token(ticket_id)),
                "created_at": now}  # fmt: skip

    def csrf(self, token: str, nonce: str) -> str:
        """The form's CSRF value: bound to this page and this one form."""
        message = f"csrf:{token_hash(token)}:{nonce}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()


def page_links(settings: Settings) -> PageLinks | None:
    """Links are made only when the web server has a public address and a key is set."""
    key = page_key(settings)
    if not settings.web.public_url or key is None:
        return None
    return PageLinks(settings.web.public_url, key)


def insert_tokens(bind: AsyncSession | str) -> Any:
    """INSERT of token rows that leaves a hash already stored alone."""
    return insert_ignore(bind)(table_of(TicketToken)).on_conflict_do_nothing(
        index_elements=["token_hash"]
    )


async def page_url(settings: Settings, session: AsyncSession, ticket_id: int, now: datetime) -> str:
    """The ticket's page link for a message about to go out ("" when links are off); its hash
    is stored if it was not yet (a ticket from before links, or after the key changed)."""
    links = page_links(settings)
    if links is None:
        return ""
    row = links.row(ticket_id, now)
    known = await session.scalar(
        select(TicketToken.id).where(TicketToken.token_hash == row["token_hash"])
    )
    if known is None:
        await session.execute(insert_tokens(session), [row])
    return links.url(ticket_id)


async def stored_page_url(settings: Settings, session: AsyncSession, ticket_id: int) -> str | None:
    """The link as `tickets show` reports it: only one that opens the page (None otherwise)."""
    links = page_links(settings)
    if links is None:
        return None
    known = await session.scalar(
        select(TicketToken.id).where(
            TicketToken.token_hash == token_hash(links.token(ticket_id)),
            TicketToken.ticket_id == ticket_id,
        )
    )
    return links.url(ticket_id) if known is not None else None


async def ticket_for_token(session: AsyncSession, token: str) -> int | None:
    """The ticket a page token opens; None for anything else (no hint which part was wrong)."""
    if not TOKEN_SHAPE.fullmatch(token):
        return None
    found = await session.scalar(
        select(TicketToken.ticket_id).where(TicketToken.token_hash == token_hash(token))
    )
    return int(found) if found is not None else None

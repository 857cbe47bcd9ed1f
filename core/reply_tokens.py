"""Agent reply addresses: a per-agent, per-ticket token signed with the desk's secret.

Every notice mailed to an agent carries `Reply-To: support+t42-<mac>@domain`, where the mac is
HMAC-SHA256(key, agent name and ticket number), 80 bits, key from `[web] secret` (or, when that
is empty, derived from `[web] admin_token`). A reply is applied only when its From address is a
configured agent's and the token is that agent's for that ticket: a forged From without the
token, or a token sent from another address, is refused.

Derived rather than stored, so the address needs no table and survives restarts; the cost is
that a token cannot be revoked on its own (only by changing the secret, which ends them all).
"""

from __future__ import annotations

import hashlib
import hmac
import re

from core.config import Settings

MAC_CHARS = 20  # hex digits kept: 80 bits
# What a token looks like once read from a sub-address (lower case: servers fold local parts).
TOKEN_SHAPE = re.compile(rf"^t(\d{{1,12}})-([0-9a-f]{{{MAC_CHARS}}})$")


def reply_key(settings: Settings) -> bytes | None:
    """The key reply tokens are signed with, or None when the desk has no secret."""
    web = settings.web
    if web.secret:
        return hmac.new(web.secret.encode(), b"tidings agent reply", hashlib.sha256).digest()
    if web.admin_token:
        return hashlib.sha256(b"tidings agent reply\0" + web.admin_token.encode()).digest()
    return None


def _mac(key: bytes, agent: str, ticket_number: int) -> str:
    signed = f"agent-reply:{agent}:{ticket_number}".encode()
    return hmac.new(key, signed, hashlib.sha256).hexdigest()[:MAC_CHARS]


def reply_token(key: bytes, agent: str, ticket_number: int) -> str:
    """The token `agent`'s notices about ticket `ticket_number` carry."""
    return f"t{ticket_number}-{_mac(key, agent, ticket_number)}"


def ticket_of(token: str) -> int | None:
    """The ticket number a well-formed token names (not yet checked), else None."""
    match = TOKEN_SHAPE.match(token.strip().lower())
    return int(match.group(1)) if match else None


def check_token(key: bytes, agent: str, token: str) -> int | None:
    """The ticket number when `token` is `agent`'s for it, else None."""
    match = TOKEN_SHAPE.match(token.strip().lower())
    if match is None:
        return None
    number = int(match.group(1))
    return number if hmac.compare_digest(match.group(2), _mac(key, agent, number)) else None


def reply_address(support: str, token: str) -> str:
    """The sub-address of the support address that carries `token`."""
    local, _, domain = support.rpartition("@")
    return f"{local}+{token}@{domain}"

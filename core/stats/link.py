"""Signed links to the statistics page: HMAC-SHA256 over the expiry (and period), one hour.

The key is `[web] secret`, or when that is empty one derived from `[web] admin_token`; with
neither set no link can be made (the page is then open only to the bearer token, i.e. nobody).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from urllib.parse import urlencode

from core.config import Settings

VALID_FOR = timedelta(hours=1)
_PURPOSE = b"tidings stats link\x00"


class LinkError(ValueError):
    """A stats link that cannot be made or does not open the page; the message says why."""


def _key(settings: Settings) -> bytes:
    web = settings.web
    if web.secret:
        return web.secret.encode()
    if web.admin_token:
        # Derived, so the link's signature never reveals anything usable as the bearer token.
        return hashlib.sha256(_PURPOSE + web.admin_token.encode()).digest()
    raise LinkError("stats links need [web] secret or [web] admin_token to be set")


def _signature(key: bytes, expires: int, since: str) -> str:
    message = f"stats\n{expires}\n{since}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def base_url(settings: Settings) -> str:
    web = settings.web
    return web.public_url.rstrip("/") or f"http://{web.host}:{web.port}"


def stats_link(settings: Settings, now: datetime, since: str = "") -> str:
    """A link to /stats that opens the page for an hour from `now` without the admin token."""
    expires = int((now + VALID_FOR).timestamp())
    query = {"expires": str(expires), "sig": _signature(_key(settings), expires, since)}
    if since:
        query["since"] = since
    return f"{base_url(settings)}/stats?{urlencode(query)}"


def check_link(settings: Settings, expires: str, signature: str, since: str, now: datetime) -> None:
    """Raise LinkError unless (expires, signature, since) came from stats_link within the hour."""
    if not expires.isdigit() or len(expires) > 12 or not signature:
        raise LinkError("this stats link is malformed")
    try:
        key = _key(settings)
    except LinkError as exc:
        raise LinkError("stats links are not enabled on this desk") from exc
    if not hmac.compare_digest(_signature(key, int(expires), since).encode(), signature.encode()):
        raise LinkError("this stats link is not valid (it was altered or signed with another key)")
    if int(expires) <= now.timestamp():
        raise LinkError("this stats link has expired; ask for a new one with the stats command")

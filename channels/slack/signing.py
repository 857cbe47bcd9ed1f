"""Slack's v0 request signing (HMAC-SHA256 over "v0:<timestamp>:<body>"), for tests and benches."""

from __future__ import annotations

import hashlib
import hmac
import time

VERSION = "v0"
MAX_AGE_SECONDS = 300  # Slack's replay window: older requests must be refused


def signature(secret: str, timestamp: str | int, body: bytes | str) -> str:
    """The X-Slack-Signature value Slack would send for `body` at `timestamp`."""
    raw = body.encode() if isinstance(body, str) else body
    base = f"{VERSION}:{timestamp}:".encode() + raw
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def signed_headers(
    secret: str,
    body: bytes | str,
    *,
    timestamp: int | None = None,
    content_type: str = "application/json",
    retry_num: int | None = None,
) -> dict[str, str]:
    """Headers of a request exactly as Slack signs it (timestamp defaults to now)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": signature(secret, stamp, body),
    }
    if retry_num is not None:
        # Slack marks redeliveries; the payload (and its signature) is otherwise the same.
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def verify(
    secret: str, timestamp: str, body: bytes | str, given: str, *, now: float | None = None
) -> bool:
    """True when `given` is the right signature and the timestamp is inside the replay window."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - stamp) > MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, stamp, body), given)

"""The Slack Web API client (base URL from config, rate-limit retries) and its error mapping."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from core.channel import Attachment, DeliveryError
from core.config import Settings

# Errors that only an operator can fix (token, scopes): retried later, and shown on /healthz.
OPERATOR_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
        "ekm_access_denied",
    }
)
# Slack-side trouble worth another try.
TEMPORARY_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
MAX_INLINE_WAIT = 5.0  # seconds a send may sleep on a 429 before handing back to the outbox
# Per Web API call. Two calls plus one inline wait stay inside the outbox's 30 s send timeout.
REQUEST_TIMEOUT = 10


def retry_after(response: HttpResponse | None) -> float | None:
    """The Retry-After a 429 carried, in seconds."""
    if response is None:
        return None
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return float(values[0])
            except ValueError:
                return None
    return None


class ShortRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 retry, for short waits only: a long Retry-After goes back to the outbox,
    which reschedules the row instead of holding a delivery worker asleep."""

    def __init__(self, max_wait: float = MAX_INLINE_WAIT, max_retry_count: int = 1) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        ):
            return False
        wait = retry_after(response)
        return wait is None or wait <= self.max_wait


def make_client(
    settings: Settings, session: aiohttp.ClientSession, *, with_token: bool = True
) -> AsyncWebClient:
    """A Web API client on `slack.api_url` sharing one connection pool; no call is made here.
    bolt gets one `with_token=False`: its authorize() hands each request the token instead."""
    handlers: list[AsyncRetryHandler] = [AsyncConnectionErrorRetryHandler(), ShortRateLimitRetry()]
    return AsyncWebClient(
        token=settings.slack.bot_token if with_token else None,
        base_url=settings.slack.api_url,
        session=session,
        timeout=REQUEST_TIMEOUT,
        retry_handlers=handlers,
    )


def error_code(exc: SlackApiError) -> str:
    """Slack's error code (`channel_not_found`, …), or "" when the answer had none."""
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict):
        return str(data.get("error") or "")
    return ""


def _status(exc: SlackApiError) -> int:
    # A body that claims to be JSON but is not leaves slack_sdk holding the raw aiohttp
    # response (`.status`) instead of its own (`.status_code`).
    response = exc.response
    return int(getattr(response, "status_code", None) or getattr(response, "status", 0) or 0)


def needs_operator(exc: SlackApiError) -> bool:
    return error_code(exc) in OPERATOR_ERRORS


def delivery_error(exc: SlackApiError) -> DeliveryError:
    """Map a failed call: 429 -> retry after, 5xx and Slack trouble -> temporary, else permanent."""
    status = _status(exc)
    code = error_code(exc)
    if status == 429 or code == "ratelimited":
        headers = getattr(exc.response, "headers", None) or {}
        value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        try:
            wait = float(value[0] if isinstance(value, list) else value) if value else None
        except ValueError:
            wait = None
        return DeliveryError("slack rate limit (429)", retry_after=wait)
    if status >= 500 or not code:
        # Slack (or a proxy in front of it) in trouble, or an answer we could not read.
        return DeliveryError(f"slack answered HTTP {status}: {exc}"[:300])
    if code in TEMPORARY_ERRORS or code in OPERATOR_ERRORS:
        return DeliveryError(f"slack error {code}")
    # channel_not_found, not_in_channel, is_archived, msg_too_long, invalid_blocks, …:
    # the same call will fail the same way, so do not retry it.
    return DeliveryError(f"slack error {code}", permanent=True)


async def upload_files(
    client: AsyncWebClient, channel: str, thread_ts: str, files: tuple[Attachment, ...]
) -> None:
    """Share an agent's files in the customer's thread: files.getUploadURLExternal, the
    bytes to the URL it gives, then files.completeUploadExternal (what files_upload_v2 does).
    A file that is gone from disk cannot come back: the delivery fails for good."""
    uploads = []
    for item in files:
        try:
            data = await asyncio.to_thread(Path(item.stored_at).read_bytes)
        except OSError as exc:
            raise DeliveryError(f"file {item.name!r} is gone: {exc}", permanent=True) from exc
        uploads.append({"file": data, "filename": item.name, "title": item.name})
    await client.files_upload_v2(file_uploads=uploads, channel=channel, thread_ts=thread_ts)

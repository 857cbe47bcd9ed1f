"""Fetching a file a platform names by URL: only from the platform's hosts, and bounded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

import aiohttp

from core.channel import FileTooLarge

CHUNK = 64 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)


class DownloadError(Exception):
    """The platform did not hand over the file; the message says what it answered."""


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


async def download(
    session: aiohttp.ClientSession,
    url: str,
    limit: int,
    *,
    hosts: Iterable[str],
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The bytes at `url`, which must be on one of `hosts` (a token is only ever sent to the
    platform it belongs to); FileTooLarge as soon as more than `limit` bytes come."""
    if host_of(url) not in set(hosts):
        raise DownloadError(f"{host_of(url) or url!r} is not a host of the platform")
    async with session.get(url, headers=dict(headers or {}), timeout=TIMEOUT) as response:
        if response.status != 200:
            raise DownloadError(f"HTTP {response.status}")
        if response.content_length is not None and response.content_length > limit:
            raise FileTooLarge(url)
        data = bytearray()
        async for chunk in response.content.iter_chunked(CHUNK):
            data += chunk
            if len(data) > limit:
                raise FileTooLarge(url)
        return bytes(data)

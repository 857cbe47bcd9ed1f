"""A capture SMTP server for tests: real aiosmtpd on a free loopback port, recording what it got."""

from __future__ import annotations

import asyncio
import warnings
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Captured:
    """One message as the relay received it: envelope and parsed content."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())  # type: ignore[attr-defined]


@dataclass
class CaptureSMTP:
    """`async with CaptureSMTP() as relay:` then point a client at relay.port.

    `replies` holds canned answers to DATA ("451 4.3.0 busy", "550 5.1.1 gone"), used in order;
    with `credentials` set the server requires AUTH (over plain text: loopback only).
    """

    credentials: tuple[str, str] | None = None
    replies: deque[str] = field(default_factory=deque)
    messages: list[Captured] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.replies:
            return self.replies.popleft()
        self.messages.append(
            Captured(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or b"")
        )
        self._arrived.set()
        return "250 2.0.0 captured"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and self.credentials is not None:
            ok = (data.login.decode(), data.password.decode()) == self.credentials
            # handled=False: aiosmtpd then sends the standard 235 / 535 answer itself.
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)

    def _protocol(self) -> SMTP:
        with warnings.catch_warnings():
            # Plain-text AUTH is the point of this loopback-only fake; don't warn about it.
            warnings.simplefilter("ignore", UserWarning)
            return self._smtp()

    def _smtp(self) -> SMTP:
        return SMTP(
            self,
            hostname="relay.test",
            enable_SMTPUTF8=True,
            auth_required=self.credentials is not None,
            auth_require_tls=False,
            authenticator=self._authenticate,
            loop=asyncio.get_running_loop(),
        )

    async def __aenter__(self) -> CaptureSMTP:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for(self, count: int, within: float = 5.0) -> list[Captured]:
        """Wait (bounded) until `count` messages arrived; return them all."""
        async with asyncio.timeout(within):
            while len(self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.messages

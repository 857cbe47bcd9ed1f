"""The SMTP intake: aiosmtpd's protocol on the app's own event loop; 250 only once stored.

Policy on long lines: RFC 5322 caps lines at 998 characters, but real mail (Amazon SES and GMX
reports, HTML from web forms) exceeds it, and aiosmtpd would answer `500 Line too long`, which a
sending MTA turns into a bounce the customer does not understand. We accept lines up to
LINE_LIMIT (1 MiB) and store the message as it came; only a longer line is refused, with
`500 5.5.2`. The size limit (`552 5.3.4`) applies in any case.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import ssl
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.email.envelope import Envelope as StoredEnvelope
from channels.email.envelope import dedup_key, frame
from core.channel import Intake, RawInbound

log = logging.getLogger(__name__)

LINE_LIMIT = 1024 * 1024
MAX_RECIPIENTS = 100
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9-]+"
# The path nearly every client sends: <dot-atom@host.name>, ASCII, no comments in what follows.
# The parameters after the path are taken whole and stripped in code: `>\s*([^()]*)` let two
# quantifiers share the spaces, and a path followed by spaces and "(" backtracked quadratically.
_PLAIN_PATH = re.compile(rf"\s*<((?:{_ATOM}\.)*{_ATOM}@(?:{_LABEL}\.)*{_LABEL})>([^()]*)\Z")


def make_acceptor(entries: list[str]) -> Callable[[str], bool]:
    """Which RCPT addresses are ours: full addresses ("support@x"), or whole domains ("@x").

    A sub-address (support+billing@x) belongs to its base address.
    """
    full = {entry.strip().lower() for entry in entries if not entry.strip().startswith("@")}
    domains = {entry.strip()[1:].lower() for entry in entries if entry.strip().startswith("@")}

    def accepts(address: str) -> bool:
        address = address.strip().lower()
        local, _, domain = address.rpartition("@")
        if not local:
            return False
        base = f"{local.split('+', 1)[0]}@{domain}"
        return address in full or base in full or domain in domains

    return accepts


class IntakeHandler:
    """aiosmtpd hooks: recipients we serve, and DATA stored in the inbox before `250`."""

    def __init__(self, accepts: Callable[[str], bool], max_bytes: int, channel: str = "email"):
        self.accepts = accepts
        self.max_bytes = max_bytes
        self.channel = channel
        self.intake: Intake | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not self.accepts(address):
            return f"550 5.1.1 <{address}>: no such mailbox here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if len(raw) > self.max_bytes:
            return f"552 5.3.4 Message is larger than the {self.max_bytes}-byte limit"
        intake = self.intake
        if intake is None:
            return "451 4.3.2 Not accepting mail yet, try again later"
        mail_from = envelope.mail_from or ""
        if mail_from == "<>":
            mail_from = ""
        stored = StoredEnvelope(
            mail_from=mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            received_at=datetime.now(UTC),
            peer=_peer(session),
        )
        raw_inbound = RawInbound(self.channel, dedup_key(mail_from, raw), frame(stored, raw))
        try:
            fresh = await intake.receive(raw_inbound)
        except Exception:
            # Not stored, so not accepted: the sender's MTA keeps it and tries again.
            log.exception("could not store a message from %r", mail_from)
            return "451 4.3.0 Could not store the message, try again later"
        return "250 2.0.0 OK: stored" if fresh else "250 2.0.0 OK: already have it"


def _peer(session: Session) -> str:
    peer = session.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or "")


class TidingsSMTP(SMTP):
    """aiosmtpd's SMTP with our line policy and enhanced status codes on its own replies."""

    def __init__(self, handler: Any, *, max_bytes: int, **kwargs: Any) -> None:
        self.line_length_limit = LINE_LIMIT  # read by SMTP.__init__ for the stream buffer
        self._max_bytes = max_bytes
        super().__init__(handler, data_size_limit=max_bytes, **kwargs)
        # aiosmtpd keeps this dict on the class, shared by every connection; give each its own.
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """The address and parameters of a MAIL or RCPT path.

        aiosmtpd reads every path with the full RFC 5322 header parser, a tenth of a
        millisecond each, twice per message. The plain form is read here with one regular
        expression, to the same result (a test compares the two); anything else goes to
        aiosmtpd's parser as before."""
        match = _PLAIN_PATH.match(arg)
        if match is None:
            return super()._getaddr(arg)
        address, rest = match.group(1), match.group(2).lstrip()
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest

    async def push(self, status: Any) -> None:
        text = status.decode() if isinstance(status, bytes) else str(status)
        if text.startswith("552 Error: "):
            text = f"552 5.3.4 Message is larger than the {self._max_bytes}-byte limit"
        elif text.startswith("500 Line too long"):
            text = f"500 5.5.2 Line longer than {LINE_LIMIT} bytes; message not accepted"
        await super().push(text)


class SmtpServer:
    """Listens on host:port in the running loop; closes every connection on stop."""

    def __init__(
        self,
        handler: IntakeHandler,
        host: str,
        port: int,
        *,
        hostname: str,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.hostname = hostname
        self.tls_context = tls_context
        self._server: asyncio.Server | None = None
        self._connections: weakref.WeakSet[TidingsSMTP] = weakref.WeakSet()

    def _protocol(self) -> TidingsSMTP:
        protocol = TidingsSMTP(
            self.handler,
            max_bytes=self.handler.max_bytes,
            enable_SMTPUTF8=True,
            hostname=self.hostname,
            ident="Tidings ESMTP",
            tls_context=self.tls_context,
            loop=asyncio.get_running_loop(),
        )
        self._connections.add(protocol)
        return protocol

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(self._protocol, self.host, self.port)
        except OSError as exc:
            # Name the setting to change rather than leave a bare "address already in use".
            raise OSError(
                exc.errno,
                f"email intake cannot listen on {self.host}:{self.port} "
                f"(email.host/email.port): {exc.strerror or exc}",
            ) from exc
        sockets = list(self._server.sockets or ())
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for protocol in list(self._connections):
            transport = protocol.transport
            if transport is not None:
                transport.close()
        await self._server.wait_closed()
        self._server = None

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context for STARTTLS from PEM files; errors name the files."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"email.tls_cert/tls_key ({cert}, {key}) cannot be loaded: {exc}") from exc
    return context

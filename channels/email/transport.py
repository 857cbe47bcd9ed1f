"""Outbound mail transports: an SMTP relay (aiosmtplib) or a local Maildir folder."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from email.message import Message
from pathlib import Path
from typing import Protocol

import aiosmtplib

from core.channel import DeliveryError
from core.config import OutboundMailConfig

_AUTH_CODES = {530, 534, 535, 538}  # our credentials or TLS setup, not the message, is wrong
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class Transport(Protocol):
    async def deliver(self, mail: Message, sender: str, recipients: list[str]) -> None: ...

    def describe(self) -> str: ...


def _classify(exc: aiosmtplib.SMTPException, host: str) -> DeliveryError:
    """Map an SMTP failure to the outbox's retry rules: 4xx and network trouble retry."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return DeliveryError(f"{host} refused the recipient ({detail})", permanent=permanent)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        code = exc.code
        reason = f"{host} answered {code} {exc.message}".strip()
        if code in _AUTH_CODES:
            return DeliveryError(f"{reason} (check email.outbound credentials/STARTTLS)")
        return DeliveryError(reason, permanent=500 <= code < 600)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return DeliveryError(f"{host}: {exc} (check email.outbound.starttls)")
    return DeliveryError(f"{host}: {type(exc).__name__}: {exc}")


class SmtpTransport:
    """Hands each message to a relay; the relay's verdict decides retry or failure."""

    def __init__(self, config: OutboundMailConfig, timeout: float = 30.0) -> None:
        self.config = config
        self.timeout = timeout

    def describe(self) -> str:
        return f"smtp://{self.config.host}:{self.config.port}"

    async def deliver(self, mail: Message, sender: str, recipients: list[str]) -> None:
        cfg = self.config
        host = f"{cfg.host}:{cfg.port}"
        try:
            await aiosmtplib.send(
                mail,
                sender=sender,
                recipients=recipients,
                hostname=cfg.host,
                port=cfg.port,
                start_tls=cfg.starttls,
                username=cfg.username or None,
                password=cfg.password or None,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPException as exc:
            raise _classify(exc, host) from exc
        except OSError as exc:  # refused, unreachable, reset: the relay may be back soon
            raise DeliveryError(f"{host}: {type(exc).__name__}: {exc}") from exc


class MaildirTransport:
    """Writes one file per message into a Maildir (tmp/ then rename into new/), as MTAs do.

    The file name carries the outbox token, so a retry after a crash finds the file it already
    wrote instead of delivering the message twice.
    """

    def __init__(self, path: str) -> None:
        self.root = Path(path)
        self._folders_made = False  # tmp/, new/ and cur/: made at the first write

    def describe(self) -> str:
        return f"maildir {self.root}"

    def _name(self, token: str) -> str:
        host = _SAFE.sub("_", socket.gethostname()) or "localhost"
        return f"{token}.tidings.{host}"

    def _already(self, name: str) -> bool:
        # new/ until a reader opens it; cur/ with ":2,<flags>" after (the usual flags checked).
        root = str(self.root)
        if os.path.exists(os.path.join(root, "new", name)):
            return True
        return any(
            os.path.exists(os.path.join(root, "cur", f"{name}:2,{flags}"))
            for flags in ("", "S", "RS")
        )

    def _write(self, data: bytes, token: str) -> Path:
        if not self._folders_made:
            for folder in ("tmp", "new", "cur"):
                (self.root / folder).mkdir(parents=True, exist_ok=True)
            self._folders_made = True
        name = self._name(token)
        final = self.root / "new" / name
        if self._already(name):
            return final
        tmp = self.root / "tmp" / f"{name}.{os.getpid()}"
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        except FileNotFoundError:
            # The Maildir was removed while we run: the retry makes the folders again.
            self._folders_made = False
            raise
        # The rename is durable only once the folder is: fsync new/ as well.
        directory = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return final

    async def deliver(self, mail: Message, sender: str, recipients: list[str]) -> None:
        token = _SAFE.sub("_", str(mail["Message-ID"]).strip("<>").partition("@")[0])
        data = mail.as_bytes().replace(b"\r\n", b"\n")  # Maildir files use local line ends
        try:
            await asyncio.to_thread(self._write, data, token)
        except OSError as exc:
            raise DeliveryError(f"cannot write to {self.root}: {exc}") from exc


def build_transport(config: OutboundMailConfig) -> Transport:
    if config.transport == "smtp":
        return SmtpTransport(config)
    return MaildirTransport(config.maildir)

"""EmailChannel: the SMTP intake, the pure decoder and the outbound transports, as one Channel."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path

from channels.email.agent_digest import build_digest
from channels.email.agent_notices import build_agent_notice
from channels.email.outbound import build_message, domain_of, message_id
from channels.email.parse import ParseOptions, decode_payload
from channels.email.server import IntakeHandler, SmtpServer, make_acceptor, tls_context
from channels.email.template import TemplateField
from channels.email.transport import Transport, build_transport
from core.agents import mailboxes
from core.channel import (
    Attachment,
    Audience,
    Decoded,
    DeliveryError,
    Intake,
    OutboundMessage,
    ReplyTarget,
    SendResult,
)
from core.config import Settings
from core.reply_tokens import reply_key
from core.storage.models import OutboxKind

log = logging.getLogger(__name__)


def parse_options(settings: Settings) -> ParseOptions:
    """Our domains (whose Message-IDs are ours) and addresses (mail from them is a loop)."""
    cfg = settings.email
    addresses = {cfg.from_address.lower()}
    addresses.update(a.lower() for a in cfg.addresses if not a.startswith("@"))
    domains = {domain_of(cfg.from_address)}
    template = tuple(
        TemplateField(f.name, f.label, tuple(f.choices)) for f in settings.intake.fields
    )
    return ParseOptions(
        our_domains=frozenset(domains),
        our_addresses=frozenset(addresses),
        attachments_dir=cfg.attachments_dir,
        template=template,
        impact_priority=dict(settings.intake.impact_priority),
        agent_addresses=frozenset(mailboxes(settings).values()),
    )


async def read_files(files: tuple[Attachment, ...]) -> list[tuple[Attachment, bytes]]:
    """The bytes of a message's files. A file gone from disk cannot come back: the delivery
    fails for good (and the agents hear of it), rather than going out without it."""
    read = []
    for item in files:
        try:
            read.append((item, await asyncio.to_thread(Path(item.stored_at).read_bytes)))
        except OSError as exc:
            raise DeliveryError(f"file {item.name!r} is gone: {exc}", permanent=True) from exc
    return read


class EmailChannel:
    """Mail in through our SMTP server, mail out through a relay or a Maildir."""

    name = "email"

    def __init__(
        self,
        settings: Settings,
        *,
        transport: Transport | None = None,
        from_name: str = "",
    ) -> None:
        self.settings = settings
        self.config = settings.email
        self.options = parse_options(settings)
        self.transport = transport or build_transport(self.config.outbound)
        self.from_name = from_name
        accepts = make_acceptor(self.config.addresses)
        self.handler = IntakeHandler(accepts, self.config.max_message_bytes)
        self.server: SmtpServer | None = None
        self.reply_key = reply_key(settings)
        # Agents answer notices at a sub-address of one our intake accepts: from_address when
        # it does, else the first full address it serves.
        full = [entry for entry in self.config.addresses if not entry.strip().startswith("@")]
        accepted = accepts(self.config.from_address) or not full
        self.reply_base = self.config.from_address if accepted else full[0].strip()

    @property
    def port(self) -> int:
        """The port actually listened on (useful with `email.port = 0`)."""
        return self.server.port if self.server else self.config.port

    @property
    def address(self) -> str:
        return f"smtp://{self.config.host}:{self.port}, outbound via {self.transport.describe()}"

    async def start(self, on_message: Intake) -> None:
        cfg = self.config
        context = None
        if cfg.tls_cert or cfg.tls_key:
            if not (cfg.tls_cert and cfg.tls_key):
                raise ValueError("email.tls_cert and email.tls_key must be set together")
            context = tls_context(cfg.tls_cert, cfg.tls_key)
        self.handler.intake = on_message
        self.server = SmtpServer(
            self.handler, cfg.host, cfg.port, hostname=domain_of(cfg.from_address),
            tls_context=context,
        )  # fmt: skip
        await self.server.start()

    async def stop(self) -> None:
        self.handler.intake = None
        if self.server is not None:
            await self.server.stop()
            self.server = None

    def problem(self) -> str | None:
        if self.server is None or not self.server.listening:
            return "SMTP intake is not listening"
        return None

    def decode(self, payload: bytes) -> Decoded:
        return decode_payload(payload, self.options)

    @property
    def decoder(self) -> Callable[[bytes], Decoded]:
        """`decode` as a picklable function, so core may decode a burst in another process."""
        return functools.partial(decode_payload, options=self.options)

    async def send(self, target: ReplyTarget, message: OutboundMessage) -> SendResult:
        address = target.address.strip()
        if "@" not in address or any(ch in address for ch in " \r\n<>,"):
            raise DeliveryError(f"{address!r} is not an email address", permanent=True)
        if message.audience is Audience.AGENTS and message.edit_external_id:
            return SendResult(external_id=message.edit_external_id)  # a mail is not edited
        mail = self._build(target, message, await read_files(message.attachments))
        # Bounces come back to the support address, where loop protection records them.
        await self.transport.deliver(mail, self.config.from_address, [address])
        return SendResult(external_id=message_id(message.token, self.config.from_address))

    def _build(
        self, target: ReplyTarget, message: OutboundMessage, files: list[tuple[Attachment, bytes]]
    ) -> Message:
        """The customer's mail, or an agent's notice (answerable when they are an agent)."""
        sender, name = self.config.from_address, self.from_name or self.config.from_name
        now = datetime.now(UTC)
        if message.audience is not Audience.AGENTS:
            return build_message(
                target, message, from_address=sender, from_name=name, now=now, files=files
            )
        agents = {address: agent for agent, address in mailboxes(self.settings).items()}
        build = build_digest if message.kind == OutboxKind.DIGEST else build_agent_notice
        return build(
            target, message, from_address=sender, from_name=name, now=now, key=self.reply_key,
            agent=agents.get(target.address.lower()), reply_base=self.reply_base,
        )  # fmt: skip

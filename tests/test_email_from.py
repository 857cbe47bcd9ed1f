"""Mail comes from a name the customer recognises; the envelope sender stays the bare address."""

from __future__ import annotations

from channels.email.channel import EmailChannel
from core.channel import OutboundMessage, ReplyTarget
from core.config import load_settings
from tests.fake_smtp import CaptureSMTP


async def test_the_customer_sees_the_support_name_and_the_relay_a_bare_sender() -> None:
    async with CaptureSMTP() as relay:
        settings = load_settings(
            None,
            email={
                "enabled": True,
                "from_address": "Example Support <help@example.com>",
                "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": relay.port},
            },
        )
        channel = EmailChannel(settings)
        message = OutboundMessage("T-1", "VPN drops", "We are on it.", "ack", True, "tok-1")
        await channel.send(ReplyTarget("email", "carol@example.com", ""), message)
        [mail] = await relay.wait_for(1)
    assert mail.mail_from == "help@example.com"
    assert mail.message["From"] == "Example Support <help@example.com>"
    assert mail.text.strip() == "We are on it."

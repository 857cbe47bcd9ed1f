"""Mail comes from a name the customer recognises; the envelope sender stays the bare address."""

from __future__ import annotations

import pytest

from channels.email.channel import EmailChannel
from core.channel import OutboundMessage, ReplyTarget
from core.config import load_settings
from tests.fake_smtp import CaptureSMTP


@pytest.mark.parametrize(
    "sender",
    [
        {"from_address": "help@example.com", "from_name": "Example Support"},
        {"from_address": "Example Support <help@example.com>"},
    ],
)
async def test_the_customer_sees_the_support_name_and_the_relay_a_bare_sender(
    sender: dict[str, str],
) -> None:
    async with CaptureSMTP() as relay:
        outbound = {"transport": "smtp", "host": "127.0.0.1", "port": relay.port}
        settings = load_settings(None, email={"enabled": True, **sender, "outbound": outbound})
        assert settings.email.from_address == "help@example.com"  # what MAIL FROM is given
        channel = EmailChannel(settings)
        message = OutboundMessage("T-1", "VPN drops", "We are on it.", "ack", True, "tok-1")
        await channel.send(ReplyTarget("email", "carol@example.com", ""), message)
        [mail] = await relay.wait_for(1)
    assert mail.mail_from == "help@example.com"
    assert mail.message["From"] == "Example Support <help@example.com>"
    assert mail.message["Message-ID"].endswith("@example.com>")
    assert mail.text.strip() == "We are on it."

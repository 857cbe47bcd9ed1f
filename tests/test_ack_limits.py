"""Acknowledgements cannot be used to mail someone over and over, or to tell a stranger what
somebody else wrote: the per-address hourly limit and the quiet acknowledgement."""

from __future__ import annotations

from datetime import timedelta

from core.clock import FakeClock
from tests.test_email_app import MailDesk, desk, mail

__all__ = ["desk"]  # the fixture, shared with the other end-to-end mail tests

VICTIM = "victim@example.com"


def _forged(number: int) -> bytes:
    """Mallory writes as someone else each time, with the victim as Reply-To."""
    return mail(
        "Buy cheap watches", "Click here.", sender=f"Seller {number} <seller{number}@evil.example>",
        headers=f"Reply-To: {VICTIM}\r\n",
    )  # fmt: skip


async def test_one_address_gets_at_most_the_hourly_acknowledgements_and_no_echo(
    desk: MailDesk, clock: FakeClock
) -> None:
    for number in range(1, 9):
        assert (
            await desk.customer_sends(_forged(number), f"seller{number}@evil.example")
        ).startswith("2.0.0")
    await desk.app.drain()
    # Every mail is still a ticket (nothing that got a 250 is lost) ...
    assert len(await desk.app.list_tickets()) == 8
    # ... but the victim hears from us five times (the default limit), and never reads the
    # sender's words: neither the subject nor the name Mallory chose.
    acks = await desk.relay.wait_for(5)
    assert len(desk.relay.messages) == 5
    for ack in acks:
        assert ack.rcpt_tos == [VICTIM]
        body = ack.text
        assert "watches" not in body and "Seller" not in body
        assert body.startswith("Hello,")
    note = [e["text"] for e in await desk.events(6) if e["visibility"] == "internal"]
    assert any(text.startswith(f"No acknowledgement sent: {VICTIM} already had 5") for text in note)

    # An hour later the address may be acknowledged again.
    clock.advance(timedelta(hours=1, seconds=1))
    await desk.customer_sends(_forged(9), "seller9@evil.example")
    await desk.app.drain()
    await desk.relay.wait_for(6)


async def test_a_customer_writing_from_their_own_address_is_quoted_as_before(
    desk: MailDesk,
) -> None:
    await desk.customer_sends(mail("VPN drops", "The VPN drops every 5 minutes."))
    await desk.app.drain()
    [ack] = await desk.relay.wait_for(1)
    body = ack.text
    assert body.startswith("Hello Ann Example,") and '("VPN drops")' in body

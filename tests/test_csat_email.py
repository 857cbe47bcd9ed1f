"""Satisfaction by email, over real SMTP: the resolution mail asks for a number, and Ann's
reply with one is her rating, not a reopen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import App
from channels.email import EmailChannel
from core.clock import FakeClock
from tests.fake_smtp import CaptureSMTP
from tests.test_email_app import SUPPORT, MailDesk, mail

QUESTION = "How did we do? Reply with a number from 1 (poor) to 5 (great)."


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[MailDesk]:
    async with CaptureSMTP() as relay:
        settings = settings_factory(
            email={
                "enabled": True, "port": 0, "addresses": [SUPPORT], "from_address": SUPPORT,
                "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": relay.port},
            }
        )  # fmt: skip
        channel = EmailChannel(settings)
        async with App(settings, clock=clock, channels=[channel], background=False) as app:
            yield MailDesk(app, channel, relay)


async def _resolved(desk: MailDesk) -> Any:
    await desk.customer_sends(mail("Printer jammed", "Floor 2 printer is jammed.",
                                   message_id="<jam-1@mail.example.org>"))  # fmt: skip
    await desk.app.drain()
    assert (await desk.app.desk.run_as("alice", "resolve T-1 Cleared the paper tray.")).ok
    await desk.app.drain()
    _ack, resolution = await desk.relay.wait_for(2)
    return resolution


def _answer(resolution: Any, text: str) -> bytes:
    """Ann answers the resolution mail from her mail client, quoting it below."""
    said = resolution.message["Message-ID"]
    return mail(
        "Re: [T-1] Printer jammed",
        f"{text}\r\n\r\nOn Mon, Support wrote:\r\n> We have marked T-1 as resolved.",
        headers=f"In-Reply-To: {said}\r\nReferences: <jam-1@mail.example.org> {said}\r\n",
    )


async def test_the_resolution_mail_asks_and_a_number_in_reply_is_the_rating(
    desk: MailDesk,
) -> None:
    resolution = await _resolved(desk)
    assert resolution.rcpt_tos == ["ann@example.org"]
    assert resolution.message["Subject"] == "Re: [T-1] Printer jammed"
    assert "Cleared the paper tray." in resolution.text
    assert QUESTION in " ".join(resolution.text.split())

    await desk.customer_sends(_answer(resolution, "4/5 - thanks, printing again"))
    await desk.app.drain()

    shown = await desk.app.show_ticket(1)
    assert shown is not None and shown["status"] == "resolved", "a rating is not a reopen"
    rating = (await desk.events(1))[-1]
    assert (rating["kind"], rating["text"]) == ("csat", "4 thanks, printing again")
    assert len(desk.relay.messages) == 2, "Ann is not written to again"


async def test_a_reply_that_is_not_a_rating_still_reopens(desk: MailDesk) -> None:
    resolution = await _resolved(desk)
    await desk.customer_sends(_answer(resolution, "Jammed again, same tray."))
    await desk.app.drain()
    shown = await desk.app.show_ticket(1)
    assert shown is not None and shown["status"] == "open"
    assert "csat" not in [event["kind"] for event in await desk.events(1)]

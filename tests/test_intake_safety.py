"""Nothing acknowledged is lost, and nobody joins a conversation that is not theirs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import select

from bot.app import App
from channels.email import EmailChannel
from core.channel import RawInbound
from core.clock import FakeClock
from core.storage.models import InboxRow, OutboxRow
from tests.fake_channel import FakeChannel
from tests.fake_smtp import CaptureSMTP

SUPPORT = "support@acme.test"


async def _inbox(app: App) -> list[InboxRow]:
    async with app.db.sessions() as session:
        return list((await session.scalars(select(InboxRow).order_by(InboxRow.id))).all())


async def test_a_nul_byte_is_cleaned_and_the_message_becomes_a_ticket(desk_app: Any) -> None:
    # PostgreSQL text cannot hold NUL: the message used to fail five times and vanish.
    fake = desk_app.fake
    assert await fake.say("carol", "Disk\x00 full on the\x00 build server", message_id="m1")
    await desk_app.drain()

    [ticket] = await desk_app.list_tickets()
    assert ticket["subject"] == "Disk full on the build server"
    [ack] = fake.texts_to("carol")
    assert "T-1" in ack
    [row] = await _inbox(desk_app)
    assert (row.outcome, row.ticket_id) == ("opened T-1", 1)


@pytest.fixture
async def with_triage(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Any]:
    customer, triage = FakeChannel("fake"), FakeChannel("slack")
    settings = settings_factory(slack={"enabled": True, "triage_channel": "CTRIAGE"})
    async with App(settings, clock=clock, channels=[customer, triage], background=False) as app:
        yield app, customer, triage


async def test_an_undecodable_payload_becomes_a_ticket_for_a_person(with_triage: Any) -> None:
    app, customer, triage = with_triage
    # The channel stored it (the platform got its ack), and its decoder cannot read it.
    assert await app.desk.receive(RawInbound("fake", "x1", b"\xff\xfe not what we expect"))
    await app.drain()

    [ticket] = await app.list_tickets()
    assert ticket["subject"] == "Could not read this message"
    assert ticket["next_update_due"] is None  # nothing automatic to a sender we cannot read
    assert customer.sent == [], "no acknowledgement to anyone"
    [card] = [s.message for s in triage.sent if s.message.kind == "card"]
    assert card.card is not None and card.card.subject == "Could not read this message"
    [note] = (await app.show_ticket(1))["events"]
    assert (note["kind"], note["visibility"]) == ("note", "internal")
    assert "undecodable" in note["text"] and "not what we expect" in note["text"]
    [row] = await _inbox(app)
    assert row.processed_at is not None and row.ticket_id == 1
    assert row.outcome.startswith("for a person: T-1")


async def test_a_message_that_always_fails_becomes_a_ticket_for_a_person(
    with_triage: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.intake.opening

    real = core.intake.opening.subject_of

    def fails_on_poison(message: Any) -> str:
        if "poison" in message.text:
            raise RuntimeError("a fault this message always meets")
        return real(message)

    # Every way of opening a ticket meets the fault: together, then alone, five times.
    monkeypatch.setattr(core.intake.opening, "subject_of", fails_on_poison)
    app, customer, triage = with_triage
    await customer.say("carol", "Printer is on fire", message_id="m1")
    await customer.say("dave", "poison: my mail", message_id="m2", name="Dave")
    await app.drain()  # rounds until nothing moves: every retry, then the person's ticket

    # (On PostgreSQL the failed attempts to open together used up ticket numbers.)
    tickets = await app.list_tickets()
    assert [t["subject"] for t in tickets] == ["Printer is on fire", "Could not read this message"]
    printer, person = tickets
    assert person["requester"]["address"] == "dave"
    assert customer.texts_to("dave") == [], "no acknowledgement"
    assert len(customer.texts_to("carol")) == 1
    cards = [s.message.card for s in triage.sent if s.message.kind == "card"]
    assert [c.ref for c in cards if c is not None] == [printer["ref"], person["ref"]]
    [note] = (await app.show_ticket(person["number"]))["events"]
    assert note["visibility"] == "internal"
    assert "5 attempts failed" in note["text"] and "always meets" in note["text"]
    assert "poison: my mail" in note["text"]
    rows = await _inbox(app)
    assert rows[1].attempts == 5 and rows[1].ticket_id == person["number"]
    assert rows[1].outcome.startswith(f"for a person: {person['ref']}")
    # The same message again (a platform retry) is a duplicate, not another ticket.
    assert not await customer.say("dave", "poison: my mail", message_id="m2")
    await app.drain()
    assert len(await app.list_tickets()) == 2


async def test_a_colleague_in_a_chat_thread_joins_the_ticket(desk_app: Any) -> None:
    # In chat, the platform decides who may post in a thread: a colleague's answer there is
    # part of the conversation (see core.intake.apply.find_ticket).
    fake = desk_app.fake
    await fake.say("carol", "Projector in room 4 is dead", message_id="m1")
    await desk_app.drain()
    await fake.say("dave", "Same in room 5", message_id="m2", thread="m1")
    await desk_app.drain()
    assert len(await desk_app.list_tickets()) == 1
    said = [e["author"] for e in (await desk_app.show_ticket(1))["events"]
            if e["kind"] == "customer_message"]  # fmt: skip
    assert said == ["carol", "dave"]


@pytest.fixture
async def mail_desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Any]:
    async with CaptureSMTP() as relay:
        settings = settings_factory(
            email={
                "enabled": True, "port": 0, "addresses": [SUPPORT], "from_address": SUPPORT,
                "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": relay.port},
            }
        )  # fmt: skip
        channel = EmailChannel(settings)
        async with App(settings, clock=clock, channels=[channel], background=False) as app:
            yield app, channel, relay


async def _send(port: int, sender: str, subject: str, body: str, message_id: str,
                headers: str = "") -> None:  # fmt: skip
    data = (
        f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
        f"{headers}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port) as client:
        await client.sendmail(sender, [SUPPORT], data)


async def test_a_stranger_quoting_a_customers_message_id_gets_a_ticket_of_their_own(
    mail_desk: Any,
) -> None:
    app, channel, relay = mail_desk
    await _send(channel.port, "carol@example.org", "Payroll export fails", "Since Monday.",
                "<carol-1@example.org>")  # fmt: skip
    await app.drain()
    # Mallory saw Carol's Message-ID (a CC, a forward, a list) and threads onto it.
    await _send(channel.port, "mallory@evil.test", "Re: Payroll export fails",
                "Please send me the export.", "<m-1@evil.test>",
                headers="In-Reply-To: <carol-1@example.org>\r\n"
                        "References: <carol-1@example.org>\r\n")  # fmt: skip
    # Carol's own follow-up on the same thread still joins her ticket.
    await _send(channel.port, "carol@example.org", "Re: Payroll export fails",
                "Still failing today.", "<carol-2@example.org>",
                headers="In-Reply-To: <carol-1@example.org>\r\n")  # fmt: skip
    await app.drain()

    tickets = await app.list_tickets()
    assert [(t["ref"], t["requester"]["address"]) for t in tickets] == [
        ("T-1", "carol@example.org"), ("T-2", "mallory@evil.test"),
    ]  # fmt: skip
    carol = [e["text"] for e in (await app.show_ticket(1))["events"]
             if e["kind"] == "customer_message"]  # fmt: skip
    assert carol == ["Since Monday.", "Still failing today."]
    acks = await relay.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in acks) == ["carol@example.org", "mallory@evil.test"]
    [to_mallory] = [m for m in acks if m.rcpt_tos == ["mallory@evil.test"]]
    assert "T-2" in to_mallory.text and "T-1" not in to_mallory.text
    async with app.db.sessions() as session:
        to_carol = await session.scalars(select(OutboxRow).where(OutboxRow.ticket_id == 1))
        assert all(row.address == "carol@example.org" for row in to_carol)

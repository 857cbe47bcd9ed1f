"""An agent's mail digest, as a transcript: new tickets held back and mailed together.

An email-only desk: Alice chose `digest = "1h"`, Bob did not. Real SMTP both ways (customers and
agents write with aiosmtplib to our SMTP intake; what Tidings sends is captured by a relay); the
test clock stands in for the hour going by.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import select

from bot.app import App
from bot.config_report import config_summary, config_warnings
from channels.email import EmailChannel
from core.clock import FakeClock
from core.config import ConfigError, load_settings
from core.storage.models import OutboxKind, OutboxRow
from tests.fake_smtp import Captured, CaptureSMTP

SUPPORT = "support@acme.test"
ALICE = "alice@example.com"
BOB = "bob@example.com"
CUSTOMERS = ("ann@example.org", "carl@example.org", "dora@example.org")
SUBJECTS = ("VPN drops", "Printer jammed", "Password reset")
ANSWER_LINE = re.compile(r"^Answer (T-\d+) by writing to: (\S+@\S+)\r?$", re.M)


def mail(sender: str, to: str, subject: str, body: str, headers: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: {make_msgid(domain='mail.example.org')}\r\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


@dataclass
class DigestDesk:
    relay: CaptureSMTP
    clock: FakeClock
    settings: Any
    app: App | None = None
    channel: EmailChannel | None = None

    async def start(self) -> App:
        self.channel = EmailChannel(self.settings)
        self.app = App(self.settings, clock=self.clock, channels=[self.channel], background=False)
        await self.app.__aenter__()
        return self.app

    async def stop(self) -> None:
        assert self.app is not None
        await self.app.__aexit__(None, None, None)
        self.app = None

    async def send(self, data: bytes, sender: str, recipient: str = SUPPORT) -> None:
        assert self.channel is not None
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=self.channel.port) as client:
            await client.mail(sender)
            await client.rcpt(recipient)
            assert (await client.data(data)).code == 250

    async def drain(self) -> None:
        assert self.app is not None
        await self.app.drain()

    def to(self, address: str, subject: str = "") -> list[Captured]:
        return [
            sent
            for sent in self.relay.messages
            if sent.rcpt_tos == [address] and subject in str(sent.message["Subject"])
        ]

    async def tickets_arrive(self, count: int = 3) -> None:
        """`count` customers write in, ten minutes apart."""
        for number in range(count):
            if number:
                self.clock.advance(timedelta(minutes=10))
            customer, subject = CUSTOMERS[number], SUBJECTS[number]
            body = f"{subject} since this morning.\r\nPlease help."
            await self.send(mail(customer, SUPPORT, subject, body), customer)
            await self.drain()


@pytest.fixture
def digest_settings(settings_factory: Any) -> Callable[[str], Any]:
    def make(port: int) -> Any:
        return settings_factory(
            email={
                "enabled": True, "port": 0, "addresses": [SUPPORT], "from_address": SUPPORT,
                "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": port},
            },
            web={"port": 0, "secret": "a long random test secret"},
            agents={"alice": {"email": ALICE, "digest": "1h"}, "bob": {"email": BOB}},
        )  # fmt: skip

    return make


@pytest.fixture
async def desk(digest_settings: Any, clock: FakeClock) -> AsyncIterator[DigestDesk]:
    async with CaptureSMTP() as relay:
        found = DigestDesk(relay, clock, digest_settings(relay.port))
        await found.start()
        try:
            yield found
        finally:
            if found.app is not None:
                await found.stop()


def answer_addresses(digest: Captured) -> dict[str, str]:
    return dict(ANSWER_LINE.findall(digest.text))


async def test_three_tickets_in_twenty_minutes_make_one_digest_at_the_hour(
    desk: DigestDesk, clock: FakeClock
) -> None:
    opened = clock.now()
    await desk.tickets_arrive()
    assert desk.to(ALICE) == [], "with a digest, no new-ticket notice one by one"
    assert len(desk.to(BOB, "New ticket")) == 3, "without one, nothing changes"

    clock.set(opened + timedelta(minutes=59))
    await desk.drain()
    assert desk.to(ALICE) == []

    clock.set(opened + timedelta(hours=1))
    await desk.drain()
    [digest] = desk.to(ALICE)
    headers = digest.message
    assert headers["Subject"] == "New tickets (3): T-1, T-2, T-3"
    assert headers["Auto-Submitted"] == "auto-generated" and headers["Reply-To"] is None
    assert "3 new tickets since your last digest" in digest.text
    for number, (customer, subject) in enumerate(zip(CUSTOMERS, SUBJECTS, strict=True), 1):
        assert f"T-{number}: {subject}" in digest.text
        assert f"From: {customer} (by email), priority normal" in digest.text
        assert f"> {subject} since this morning." in digest.text
    assert sorted(answer_addresses(digest)) == ["T-1", "T-2", "T-3"]
    assert "put it in To:" in digest.text, "the digest says how to answer from it"

    clock.advance(timedelta(minutes=30))
    await desk.drain()
    assert len(desk.to(ALICE)) == 1, "the held notices went in that digest, once"

    # Alice answers T-2 by writing to its address from the digest: Carl gets the reply.
    t2 = answer_addresses(digest)["T-2"]
    await desk.send(mail(f"Alice <{ALICE}>", t2, "Re: T-2", "Load paper tray 2, then retry."),
                    ALICE, t2)  # fmt: skip
    await desk.drain()
    reply = desk.to(CUSTOMERS[1])[-1]
    assert reply.message["Subject"] == "Re: [T-2] Printer jammed"
    assert reply.text.startswith("Load paper tray 2, then retry.")
    assert len(desk.to(CUSTOMERS[0])) == 1 and len(desk.to(CUSTOMERS[2])) == 1  # their acks

    # The digest's addresses are Alice's: from Bob, T-2's address does nothing.
    await desk.send(mail(BOB, t2, "Re: T-2", "resolve Fixed"), BOB, t2)
    await desk.drain()
    assert desk.app is not None
    [ticket] = [t for t in await desk.app.list_tickets() if t["ref"] == "T-2"]
    assert ticket["status"] != "resolved"


async def test_a_reply_to_the_digest_itself_is_refused_and_says_how_to_answer(
    desk: DigestDesk, clock: FakeClock
) -> None:
    opened = clock.now()
    await desk.tickets_arrive(1)
    clock.set(opened + timedelta(hours=1))
    await desk.drain()
    [digest] = desk.to(ALICE)
    thread = f"In-Reply-To: {digest.message['Message-ID']}\r\n"
    await desk.send(mail(ALICE, SUPPORT, "Re: New tickets (1): T-1", "On it.", thread), ALICE)
    await desk.drain()
    [explained] = [sent for sent in desk.to(ALICE) if "did not act on your mail" in sent.text]
    text = " ".join(explained.text.split())
    assert "write to the address your digest gives for that ticket" in text
    assert '("Answer T-2 by writing to: …")' in text
    assert desk.app is not None
    [ticket] = await desk.app.list_tickets()
    assert ticket["status"] == "new", "nothing changed"


async def test_a_follow_up_is_still_immediate_and_a_resolved_ticket_says_so(
    desk: DigestDesk, clock: FakeClock
) -> None:
    opened = clock.now()
    await desk.tickets_arrive(2)
    ack = desk.to(CUSTOMERS[0])[0].message
    thread = f"In-Reply-To: {ack['Message-ID']}\r\n"
    again = mail(CUSTOMERS[0], SUPPORT, "Re: [T-1] VPN drops", "It happens on Wi-Fi too.", thread)
    await desk.send(again, CUSTOMERS[0])
    await desk.drain()
    [follow_up] = desk.to(ALICE)
    assert follow_up.message["Subject"] == "[T-1] Customer wrote again: VPN drops"
    assert "It happens on Wi-Fi too." in follow_up.text
    assert follow_up.message["Reply-To"], "answerable as ever"

    assert desk.app is not None
    said = await desk.app.desk.run_as("bob", "resolve T-2 Paper tray was empty")
    assert said.ok, said.text
    clock.set(opened + timedelta(hours=1))
    await desk.drain()
    [digest] = desk.to(ALICE, "New tickets")
    assert "T-1: VPN drops\r\n" in digest.text
    assert "T-2: Printer jammed  [already resolved]" in digest.text


async def test_a_restart_between_tickets_and_digest_loses_nothing(
    desk: DigestDesk, clock: FakeClock
) -> None:
    opened = clock.now()
    await desk.tickets_arrive(2)
    await desk.stop()

    await desk.start()
    await desk.tickets_arrive(1)  # T-3 arrives after the restart, at the opening minute
    clock.set(opened + timedelta(hours=1))
    await desk.drain()
    [digest] = desk.to(ALICE)
    assert sorted(answer_addresses(digest)) == ["T-1", "T-2", "T-3"]


async def test_two_processes_never_mail_a_ticket_twice(desk: DigestDesk, clock: FakeClock) -> None:
    from core.delivery.digest import queue_digests  # here: the test file loads without it

    opened = clock.now()
    await desk.tickets_arrive(2)
    assert desk.app is not None
    db = desk.app.db
    queued = await asyncio.gather(*(queue_digests(db, opened + timedelta(hours=1)) for _ in "ab"))
    assert sorted(queued) == [0, 1]
    async with db.sessions() as session:
        kinds = (await session.scalars(
            select(OutboxRow.kind).where(OutboxRow.address == ALICE))).all()  # fmt: skip
    assert sorted(kinds) == [OutboxKind.DIGEST, OutboxKind.NEW_TICKET, OutboxKind.NEW_TICKET]


def test_a_digest_that_is_no_duration_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[agents.alice]\nemail = "alice@example.com"\ndigest = "banana"\n')
    with pytest.raises(ConfigError, match=r"agents\.alice\.digest: 'banana' is not a duration"):
        load_settings(path)
    path.write_text('[agents.alice]\nemail = "alice@example.com"\ndigets = "1h"\n')
    with pytest.raises(ConfigError, match=r"did you mean agents\.alice\.digest\?"):
        load_settings(path)

    path.write_text('[web]\nsecret = "s"\n[agents.alice]\nemail = "a@x.test"\ndigest = "1h"\n'
                    '[agents.bob]\nemail = "b@x.test"\n')  # fmt: skip
    assert "agents' mail digests: alice every 1h" in config_summary(load_settings(path))
    path.write_text('[agents.carol]\nslack = "UCAROL"\ndigest = "1d"\n')
    [warning] = config_warnings(load_settings(path))
    assert warning.startswith("agents.carol.digest is set but agents.carol.email is empty")

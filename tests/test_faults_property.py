"""A property over any sequence of new mails, replies, duplicate deliveries and restarts: every
accepted message is on exactly one ticket, and no ticket is acknowledged twice.

SQLite only: each example needs a database of its own, which on PostgreSQL costs a CREATE and a
DROP DATABASE per example; what the property exercises (threading, the inbox's dedupe, opening
and joining across restarts) is the same code on both, and the PostgreSQL paths that differ
(several processes, SKIP LOCKED) are what test_faults_kill and test_faults_relay run there.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import App
from channels.email import EmailChannel
from core.clock import FakeClock
from tests.conftest import make_settings
from tests.fake_smtp import CaptureSMTP
from tests.fault_burst import TICKET_TAG, TOKEN

SUPPORT = "support@acme.test"
MONDAY = datetime(2026, 11, 23, 9, tzinfo=UTC)
CUSTOMERS = ("ann@example.org", "bob@example.net", "cho@example.com")


@dataclass(frozen=True)
class NewMail:
    customer: int


@dataclass(frozen=True)
class Reply:
    to: int  # which earlier mail (modulo how many there are)
    to_ack: bool  # answer our acknowledgement when it went out, else the customer's own mail


@dataclass(frozen=True)
class Duplicate:
    of: int  # which earlier mail is delivered again, byte for byte


@dataclass(frozen=True)
class Drain:
    """The desk applies what it stored and sends what is due."""


@dataclass(frozen=True)
class Restart:
    drained: bool  # a clean stop after draining, or stopped with work still stored


Step = NewMail | Reply | Duplicate | Drain | Restart

steps = st.lists(
    st.one_of(
        st.builds(NewMail, st.integers(0, len(CUSTOMERS) - 1)),
        st.builds(Reply, st.integers(0, 50), st.booleans()),
        st.builds(Duplicate, st.integers(0, 50)),
        st.just(Drain()),
        st.builds(Restart, st.booleans()),
    ),
    min_size=1,
    max_size=12,
)


@dataclass
class Sent:
    """A mail a customer sent: its token is in its body; `opener` is its conversation's first."""

    token: str
    sender: str
    data: bytes
    opener: str


@dataclass
class World:
    """The desk as a customer's mail client and our relay see it, across restarts."""

    folder: Path
    relay: CaptureSMTP
    clock: FakeClock = field(default_factory=lambda: FakeClock(MONDAY))
    sent: list[Sent] = field(default_factory=list)
    app: App | None = None
    channel: EmailChannel | None = None

    def settings(self) -> Any:
        return make_settings(
            f"sqlite+aiosqlite:///{self.folder}/tidings.db", self.folder,
            email={
                "enabled": True, "port": 0, "addresses": [SUPPORT], "from_address": SUPPORT,
                "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": self.relay.port},
            },
        )  # fmt: skip

    async def start(self) -> None:
        settings = self.settings()
        self.channel = EmailChannel(settings)
        self.app = App(settings, clock=self.clock, channels=[self.channel], background=False)
        await self.app.start()

    async def stop(self, drained: bool) -> None:
        assert self.app is not None
        if drained:
            await self.app.drain()
        await self.app.stop()

    async def send(self, mail: Sent) -> None:
        assert self.channel is not None
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=self.channel.port) as client:
            await client.sendmail(mail.sender, [SUPPORT], mail.data)  # raises unless 250
        self.clock.advance(timedelta(seconds=30))

    def ack_of(self, opener: str) -> tuple[str, str] | None:
        """(Message-ID, Subject) of the acknowledgement that answered `opener`, if it went out."""
        for captured in self.relay.messages:
            message = captured.message
            if message["In-Reply-To"] == f"<{opener}@customers.example>":
                return str(message["Message-ID"]), str(message["Subject"])
        return None


def _mail(token: str, sender: str, subject: str, in_reply_to: str = "") -> bytes:
    thread = f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    return (
        f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{token}@customers.example>\r\n{thread}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nAbout {token}: it is broken.\r\n"
    ).encode()


async def take(world: World, step: Step) -> None:
    if isinstance(step, Restart):
        await world.stop(step.drained)
        await world.start()
        return
    if isinstance(step, Drain):
        assert world.app is not None
        await world.app.drain()
        return
    earlier = world.sent
    if isinstance(step, Duplicate) and earlier:
        await world.send(earlier[step.of % len(earlier)])
        return
    token = f"tok-c0-m{len(earlier):03d}"
    if isinstance(step, Reply) and earlier:
        parent = earlier[step.to % len(earlier)]
        ack = world.ack_of(parent.opener) if step.to_ack else None
        # Answering our acknowledgement ("Re: [T-1] …"), or a follow-up to their own mail.
        answering, subject = ack or (f"<{parent.token}@customers.example>", "Re: problem")
        data = _mail(token, parent.sender, subject, answering)
        mail = Sent(token, parent.sender, data, parent.opener)
    else:
        sender = CUSTOMERS[step.customer if isinstance(step, NewMail) else 0]
        mail = Sent(token, sender, _mail(token, sender, f"problem {token}"), token)
    world.sent.append(mail)
    await world.send(mail)


async def check(world: World) -> None:
    assert world.app is not None
    app = world.app
    where: dict[str, list[str]] = {}
    acks: Counter[str] = Counter()
    for listed in await app.list_tickets():
        ticket = await app.show_ticket(int(listed["number"]))
        assert ticket is not None
        for event in ticket["events"]:
            if event["kind"] == "customer_message":
                for token in TOKEN.findall(event["text"]):
                    where.setdefault(token, []).append(ticket["ref"])
            acks[ticket["ref"]] += event["kind"] == "ack"
    sent = {mail.token: mail for mail in world.sent}
    twice = {token: refs for token, refs in where.items() if len(refs) != 1}
    assert not twice, f"on more than one ticket, or twice: {twice}"
    assert set(where) == set(sent), "every accepted mail is on a ticket, and nothing else is"
    for token, [ref] in where.items():
        assert where[sent[token].opener] == [ref], f"{token} is not on its conversation's ticket"
    openers = {mail.opener for mail in world.sent}
    assert len(acks) == len(openers), "one ticket per conversation"
    assert all(count == 1 for count in acks.values()), f"ack events per ticket: {acks}"
    mailed = Counter(
        match.group(0)
        for captured in world.relay.messages
        if (match := TICKET_TAG.search(str(captured.message["Subject"])))
    )
    assert all(count == 1 for count in mailed.values()), f"ack mails per ticket: {mailed}"
    assert len(mailed) == len(openers), "every ticket's acknowledgement went out"


async def scenario(plan: list[Step]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with CaptureSMTP() as relay:
            world = World(Path(folder), relay)
            await world.start()
            try:
                for step in plan:
                    await take(world, step)
                await world.app.drain()  # type: ignore[union-attr]
                await check(world)
            finally:
                await world.stop(drained=False)


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(plan=steps)
def test_every_accepted_mail_is_on_exactly_one_ticket_across_restarts(plan: list[Step]) -> None:
    asyncio.run(scenario(plan))

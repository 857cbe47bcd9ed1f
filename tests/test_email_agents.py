"""Agents on email, as a transcript: notices by mail, and answers from the agent's mail client.

An email-only desk with two agents who read mail. Real SMTP both ways: the customer and the
agents send with aiosmtplib to our SMTP intake; what Tidings sends is captured by a relay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes
from email.utils import make_msgid
from typing import Any

import aiosmtplib
import pytest

from bot.app import App
from channels.email import EmailChannel
from core.clock import FakeClock
from tests.fake_smtp import Captured, CaptureSMTP

SUPPORT = "support@acme.test"
ANN = "ann@example.org"
ALICE = "alice@example.com"
BOB = "bob@example.com"


@dataclass
class AgentDesk:
    app: App
    channel: EmailChannel
    relay: CaptureSMTP

    async def send(self, data: bytes, sender: str, recipient: str = SUPPORT) -> None:
        """One SMTP transaction to our intake, as any mail client makes it."""
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=self.channel.port) as client:
            await client.mail(sender)
            await client.rcpt(recipient)
            response = await client.data(data)
        assert response.code == 250

    def to(self, address: str) -> list[Captured]:
        return [sent for sent in self.relay.messages if sent.rcpt_tos == [address]]

    async def events(self, number: int) -> list[dict[str, Any]]:
        shown = await self.app.show_ticket(number)
        assert shown is not None
        return list(shown["events"])


def mail(sender: str, to: str, subject: str, body: str, headers: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: {make_msgid(domain='mail.example.org')}\r\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def answer(notice: Captured, sender: str, body: str, to: str = "") -> bytes:
    """What a mail client sends when its user answers `notice`: to its Reply-To, in thread,
    with the notice quoted below the text."""
    headers = notice.message
    quoted = "\r\n".join(f"> {line}" for line in notice.text.splitlines())
    return mail(
        sender, to or str(headers["Reply-To"]), f"Re: {headers['Subject']}",
        f"{body}\r\n\r\nOn Sun, 29 Nov 2026, Support <{SUPPORT}> wrote:\r\n{quoted}",
        headers=f"In-Reply-To: {headers['Message-ID']}\r\nReferences: {headers['Message-ID']}\r\n",
    )  # fmt: skip


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[AgentDesk]:
    async with CaptureSMTP() as relay:
        settings = settings_factory(
            email={
                "enabled": True, "port": 0, "addresses": [SUPPORT], "from_address": SUPPORT,
                "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": relay.port},
            },
            web={"port": 0, "secret": "a long random test secret"},
            agents={"alice": {"email": ALICE}, "bob": {"email": BOB.upper()}},
        )  # fmt: skip
        channel = EmailChannel(settings)
        async with App(settings, clock=clock, channels=[channel], background=False) as app:
            yield AgentDesk(app, channel, relay)


async def ticket_arrives(desk: AgentDesk) -> Captured:
    """Ann writes in; each agent gets the new-ticket notice. Returns Alice's."""
    await desk.send(mail(f"Ann Example <{ANN}>", SUPPORT, "VPN drops",
                         "The VPN drops every 5 minutes.\r\nSince this morning."), ANN)  # fmt: skip
    await desk.app.drain()
    [ack] = desk.to(ANN)
    assert ack.message["Subject"] == "Re: [T-1] VPN drops"
    [notice] = desk.to(ALICE)
    assert len(desk.to(BOB)) == 1, "every agent who reads mail hears of a new ticket"
    return notice


async def test_notice_then_reply_note_and_eta_from_the_agents_mail_client(
    desk: AgentDesk, clock: FakeClock
) -> None:
    from core.reply_tokens import reply_address, reply_key, reply_token

    notice = await ticket_arrives(desk)
    headers = notice.message
    assert headers["Subject"] == "[T-1] New ticket: VPN drops"
    assert headers["From"] == SUPPORT and headers["Auto-Submitted"] == "auto-generated"
    token = reply_token(reply_key(desk.app.settings) or b"", "alice", 1)
    assert headers["Reply-To"] == reply_address(SUPPORT, token)
    assert "From: Ann Example" in notice.text
    assert "The VPN drops every 5 minutes.\r\nSince this morning." in notice.text
    assert "eta tomorrow 15:00" in notice.text, "the notice says how to answer it"

    # Alice answers from her mail client: Ann gets the reply, in Ann's thread.
    await desk.send(answer(notice, f"Alice <{ALICE}>", "Which VPN client version do you use?"),
                    ALICE, str(headers["Reply-To"]))  # fmt: skip
    await desk.app.drain()
    assert len(await desk.app.list_tickets()) == 1, "an agent's mail never opens a ticket"
    reply = desk.to(ANN)[-1]
    assert reply.message["Subject"] == "Re: [T-1] VPN drops"
    assert reply.text.startswith("Which VPN client version do you use?")
    assert "Support wrote" not in reply.text and "New ticket" not in reply.text
    [said] = [e for e in await desk.events(1) if e["kind"] == "agent_reply"]
    assert (said["author"], said["visibility"]) == ("alice", "public")

    # `note:` stays internal: on the timeline, nothing to Ann.
    mails_to_ann = len(desk.to(ANN))
    await desk.send(answer(notice, ALICE, "note: Probably the 5.2 client bug."),
                    ALICE, str(headers["Reply-To"]))  # fmt: skip
    await desk.app.drain()
    [note] = [e for e in await desk.events(1) if e["kind"] == "note" and e["author"] == "alice"]
    assert (note["text"], note["visibility"]) == ("Probably the 5.2 client bug.", "internal")
    assert len(desk.to(ANN)) == mails_to_ann

    # A command on the first line runs on the ticket; Alice is told what it did.
    await desk.send(answer(notice, ALICE, "eta tomorrow 15:00"), ALICE, str(headers["Reply-To"]))
    await desk.app.drain()
    [ticket] = await desk.app.list_tickets()
    tomorrow = (clock.now() + timedelta(days=1)).date()
    assert ticket["eta"] == f"{tomorrow.isoformat()}T15:00:00Z"
    told = desk.to(ALICE)[-1]
    assert told.message["Subject"] == "[T-1] Your mail: VPN drops"
    assert "T-1" in told.text
    clock.advance(timedelta(seconds=10))  # an ETA notice settles a moment before it goes
    await desk.app.drain()
    assert "15:00" in desk.to(ANN)[-1].text


async def test_a_customer_follow_up_reaches_the_holder_only(desk: AgentDesk) -> None:
    notice = await ticket_arrives(desk)
    await desk.send(answer(notice, ALICE, "take"), ALICE, str(notice.message["Reply-To"]))
    await desk.app.drain()
    [ticket] = await desk.app.list_tickets()
    assert ticket["assignee"] == "alice"
    alice_had, bob_had = len(desk.to(ALICE)), len(desk.to(BOB))

    ack = desk.to(ANN)[0].message
    await desk.send(mail(ANN, SUPPORT, "Re: [T-1] VPN drops", "It happens on Wi-Fi too.",
                         headers=f"In-Reply-To: {ack['Message-ID']}\r\n"), ANN)  # fmt: skip
    await desk.app.drain()
    follow_up = desk.to(ALICE)[-1]
    assert len(desk.to(ALICE)) == alice_had + 1 and len(desk.to(BOB)) == bob_had
    assert follow_up.message["Subject"] == "[T-1] Customer wrote again: VPN drops"
    assert "It happens on Wi-Fi too." in follow_up.text
    assert follow_up.message["Reply-To"] == notice.message["Reply-To"]


async def test_forged_replies_change_nothing_and_are_explained_once(
    desk: AgentDesk, clock: FakeClock
) -> None:
    notice = await ticket_arrives(desk)
    alices_address = str(notice.message["Reply-To"])
    [bobs_notice] = desk.to(BOB)
    before = await desk.events(1)
    sent_before = len(desk.relay.messages)

    # Right From, no token: Alice's own address writing to the plain support address.
    forged = answer(notice, ALICE, "resolve Fixed", to=SUPPORT)
    await desk.send(forged, ALICE)
    await desk.app.drain()
    [explained] = desk.relay.messages[sent_before:]
    assert explained.rcpt_tos == [ALICE]
    assert "did not act on your mail" in explained.text
    assert explained.message["Subject"] == "Re: New ticket: VPN drops"
    assert explained.message["Auto-Submitted"] == "auto-replied"
    assert explained.message["X-Tidings-Ticket"] is None
    assert explained.message["In-Reply-To"] == message_from_bytes(forged)["Message-ID"]

    # Right From, another agent's token (Bob's notice forwarded to Alice, say).
    clock.advance(timedelta(minutes=11))
    await desk.send(answer(bobs_notice, ALICE, "resolve Fixed"), ALICE,
                    str(bobs_notice.message["Reply-To"]))  # fmt: skip
    # Right token, wrong From: someone who saw Alice's reply address.
    await desk.send(answer(notice, "mallory@evil.test", "resolve Fixed"), "mallory@evil.test",
                    alices_address)  # fmt: skip
    # The same forger again at once: no second explanation (nothing to keep a loop going).
    await desk.send(answer(notice, "mallory@evil.test", "close"), "mallory@evil.test",
                    alices_address)  # fmt: skip
    await desk.app.drain()
    later = desk.relay.messages[sent_before + 1 :]
    assert sorted(sent.rcpt_tos[0] for sent in later) == [ALICE, "mallory@evil.test"]
    assert all("did not act on your mail" in sent.text for sent in later)
    assert await desk.events(1) == before
    [ticket] = await desk.app.list_tickets()
    assert ticket["status"] == "new" and len(await desk.app.list_tickets()) == 1


async def test_an_out_of_office_answering_a_notice_gets_nothing(desk: AgentDesk) -> None:
    notice = await ticket_arrives(desk)
    before, sent_before = await desk.events(1), len(desk.relay.messages)
    away = answer(notice, ALICE, "I am away until Monday.")
    away = away.replace(b"Subject:", b"Auto-Submitted: auto-replied\r\nSubject:", 1)
    await desk.send(away, ALICE, str(notice.message["Reply-To"]))
    await desk.app.drain()
    assert len(desk.relay.messages) == sent_before
    assert await desk.events(1) == before


async def test_a_reply_that_is_all_quote_sends_nothing_and_says_so(desk: AgentDesk) -> None:
    notice = await ticket_arrives(desk)
    sent_to_ann = len(desk.to(ANN))
    await desk.send(answer(notice, ALICE, ""), ALICE, str(notice.message["Reply-To"]))
    await desk.app.drain()
    assert len(desk.to(ANN)) == sent_to_ann, "the quoted notice must never reach the customer"
    assert "found no text" in desk.to(ALICE)[-1].text


async def test_a_failing_command_changes_nothing_and_tells_the_agent(desk: AgentDesk) -> None:
    notice = await ticket_arrives(desk)
    before = await desk.events(1)
    await desk.send(answer(notice, ALICE, "priority whenever"), ALICE,
                    str(notice.message["Reply-To"]))  # fmt: skip
    await desk.app.drain()
    assert await desk.events(1) == before
    assert "whenever" in desk.to(ALICE)[-1].text


async def test_an_agents_mail_to_the_support_address_is_no_new_ticket(desk: AgentDesk) -> None:
    await desk.send(mail(f"Alice <{ALICE}>", SUPPORT, "Printer on floor 2",
                         "The printer on floor 2 is jammed again."), ALICE)  # fmt: skip
    await desk.app.drain()
    assert await desk.app.list_tickets() == [], "an agent's mail is never a customer's"
    [explained] = desk.relay.messages
    assert explained.rcpt_tos == [ALICE]
    assert "did not act on your mail" in explained.text
    assert "reply to the notice" in explained.text
    # An agent with a digest has no notice to reply to: its per-ticket addresses work too.
    assert "write to the address your digest gives for that ticket" in explained.text


async def test_files_on_an_agents_reply_are_recorded_like_a_customers(desk: AgentDesk) -> None:
    notice = await ticket_arrives(desk)
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "note: the log Ann sent, annotated\r\n"
        f"--{boundary}\r\nContent-Type: text/plain; name=vpn.log\r\n"
        "Content-Disposition: attachment; filename=vpn.log\r\n\r\n"
        f"12:00 tunnel down\r\n--{boundary}--"
    )
    data = mail(ALICE, str(notice.message["Reply-To"]), "Re: T-1", body)
    data = data.replace(
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n--",
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0undary\r\n\r\n--",
        1,
    )
    await desk.send(data, ALICE, str(notice.message["Reply-To"]))
    await desk.app.drain()
    shown = await desk.app.show_ticket(1)
    assert shown is not None
    [note] = [e for e in shown["events"] if e["kind"] == "note" and e["author"] == "alice"]
    assert note["text"] == "the log Ann sent, annotated"
    [file] = shown["attachments"]
    assert (file["name"], file["size"]) == ("vpn.log", len(b"12:00 tunnel down"))


async def test_a_file_on_an_agents_reply_reaches_the_customer_as_an_attachment(
    desk: AgentDesk,
) -> None:
    notice = await ticket_arrives(desk)
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Here is the new VPN profile; import it and reconnect.\r\n"
        f"--{boundary}\r\nContent-Type: application/octet-stream; name=acme.ovpn\r\n"
        "Content-Disposition: attachment; filename=acme.ovpn\r\n\r\n"
        f"remote vpn.acme.test 1194\r\n--{boundary}--"
    )
    reply_to = str(notice.message["Reply-To"])
    data = mail(ALICE, reply_to, "Re: T-1", body).replace(
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n--",
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0undary\r\n\r\n--",
        1,
    )
    await desk.send(data, ALICE, reply_to)
    await desk.app.drain()
    [_, reply] = desk.to(ANN)
    assert "Here is the new VPN profile" in reply.text
    [part] = [p for p in reply.message.walk() if p.get_filename()]
    assert part.get_filename() == "acme.ovpn"
    assert part.get_payload(decode=True).strip() == b"remote vpn.acme.test 1194"


async def test_nudge_and_missed_eta_reach_the_holders_mailbox(
    desk: AgentDesk, clock: FakeClock
) -> None:
    notice = await ticket_arrives(desk)
    reply_to = str(notice.message["Reply-To"])
    await desk.send(answer(notice, ALICE, "take"), ALICE, reply_to)
    await desk.app.drain()
    bob_had = len(desk.to(BOB))
    [ticket] = await desk.app.list_tickets()
    due = datetime.fromisoformat(ticket["next_update_due"])

    clock.set(due - desk.app.settings.reminders.nudge_before + timedelta(minutes=5))
    await desk.app.drain()
    nudge = desk.to(ALICE)[-1]
    assert nudge.message["Subject"] == "[T-1] Update due soon: VPN drops"
    assert "owed an update" in nudge.text and nudge.message["Reply-To"] == reply_to

    await desk.send(answer(nudge, ALICE, "eta in 1h\n\nLooking at the tunnel logs."), ALICE,
                    reply_to)  # fmt: skip
    await desk.app.drain()
    clock.advance(timedelta(hours=2))
    await desk.app.drain()
    missed = desk.to(ALICE)[-1]
    assert missed.message["Subject"] == "[T-1] ETA missed: VPN drops"
    assert "Set a new ETA" in missed.text
    assert len(desk.to(BOB)) == bob_had, "Bob does not hold the ticket"

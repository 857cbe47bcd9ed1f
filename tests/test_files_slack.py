"""Files both ways on Slack: customers' files kept, agents' files from a card thread delivered."""

from __future__ import annotations

import mailbox
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import pytest

from bot.app import App
from channels.email import EmailChannel
from channels.slack import SlackChannel
from tests.fake_slack import FakeSlack
from tests.fake_slack_payloads import envelope, file_share, message
from tests.fake_slack_world import HELP, TRIAGE, SlackWorld, slack_section, slack_world

ALICE = "UALICE"  # an agent (tests/conftest.py)
SUPPORT = "support@acme.test"
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # 2 KiB that are not text
INVOICE = b"%PDF-1.4\n" + b"corrected invoice 1042\n" * 40


@pytest.fixture
async def world(settings_factory: Any, clock: Any) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock) as running:
        yield running


def kept_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def limited(settings_factory: Any, limit: int) -> Any:
    """Settings with `[intake] max_attachment_bytes = limit`."""
    return lambda **sections: settings_factory(intake={"max_attachment_bytes": limit}, **sections)


def shares(user: str, channel: str, text: str, files: list[dict[str, Any]], **kw: Any) -> Any:
    """A file_share message event, as Slack sends it when someone attaches files."""
    return envelope(file_share(user, channel, text, files=files, **kw))


async def open_ticket(world: SlackWorld) -> tuple[dict[str, Any], str]:
    """Carol reports in the intake channel; returns her message and the ticket's card ts."""
    said = message("UCAROL", HELP, "The VPN client shows an error")
    await world.post(envelope(said))
    await world.drain()
    return said, world.slack.cards(TRIAGE)[0]


async def test_a_customers_file_is_downloaded_with_the_token_and_kept(world: SlackWorld) -> None:
    shot = world.slack.host_file("vpn-error.png", SCREENSHOT, "image/png")
    await world.post(shares("UCAROL", HELP, "The VPN client shows this", [shot]))
    await world.drain()

    ticket = await world.app.show_ticket(1)
    assert ticket is not None
    [kept] = ticket["attachments"]
    assert (kept["name"], kept["content_type"], kept["size"]) == (
        "vpn-error.png", "image/png", len(SCREENSHOT),
    )  # fmt: skip
    assert kept_bytes(kept["stored_at"]) == SCREENSHOT
    [fetch] = [call for call in world.slack.calls if call.method == "download"]
    assert fetch.token == world.slack.bot_token  # Slack's private links need the bot token
    assert "T-1" in world.slack.posted(HELP)[0]["text"]  # acknowledged as usual


async def test_a_customers_file_over_the_limit_is_named_in_a_note(
    settings_factory: Any, clock: Any
) -> None:
    async with slack_world(limited(settings_factory, 1000), clock) as world:
        shot = world.slack.host_file("vpn-error.png", SCREENSHOT, "image/png")
        await world.post(shares("UCAROL", HELP, "The VPN client shows this", [shot]))
        await world.drain()

        ticket = await world.app.show_ticket(1)
        assert ticket is not None
        [kept] = ticket["attachments"]
        assert kept["name"] == "vpn-error.png" and kept["stored_at"] == ""
        [note] = [e for e in ticket["events"] if e["kind"] == "note"]
        assert note["visibility"] == "internal"
        assert (
            "vpn-error.png" in note["text"] and "larger than the 1000 bytes limit" in note["text"]
        )
        assert not [call for call in world.slack.calls if call.method == "download"]


async def test_an_agents_file_in_the_card_thread_reaches_a_slack_customer_as_an_upload(
    world: SlackWorld,
) -> None:
    said, card = await open_ticket(world)
    invoice = world.slack.host_file("invoice-1042.pdf", INVOICE, "application/pdf")
    await world.post(shares(ALICE, TRIAGE, "Here is the corrected invoice", [invoice],
                            thread_ts=card))  # fmt: skip
    await world.drain()

    [upload] = world.slack.uploads
    assert (upload["name"], upload["data"]) == ("invoice-1042.pdf", INVOICE)
    assert (upload["channel"], upload["thread_ts"]) == (HELP, said["ts"])  # her thread
    reply = world.slack.posted(HELP)[-1]
    assert "Here is the corrected invoice" in reply["text"]
    ticket = await world.app.show_ticket(1)
    assert ticket is not None
    assert [a["name"] for a in ticket["attachments"]] == ["invoice-1042.pdf"]


async def test_an_agents_file_over_the_limit_is_refused_and_the_text_still_goes(
    settings_factory: Any, clock: Any
) -> None:
    async with slack_world(limited(settings_factory, 100), clock) as world:
        _, card = await open_ticket(world)
        before = await world.app.show_ticket(1)
        assert before is not None
        trace = world.slack.host_file("trace.zip", INVOICE, "application/zip")
        await world.post(shares(ALICE, TRIAGE, "Try the new client, please", [trace],
                                thread_ts=card))  # fmt: skip
        await world.drain()

        assert world.slack.uploads == []  # the customer gets the text alone
        assert "Try the new client, please" in world.slack.posted(HELP)[-1]["text"]
        [told] = [m for m in world.slack.posted(TRIAGE) if m.get("thread_ts") == card]
        assert '"trace.zip" was not sent to the customer' in told["text"]
        assert "larger than the 100 bytes limit" in told["text"]
        after = await world.app.show_ticket(1)
        assert after is not None
        added = after["events"][len(before["events"]) :]
        assert [e["kind"] for e in added] == ["agent_reply"]  # nothing else changed
        assert after["attachments"] == []


@pytest.fixture
async def mail_world(
    settings_factory: Any, clock: Any, tmp_path: Path
) -> AsyncIterator[tuple[App, FakeSlack, EmailChannel, aiohttp.ClientSession]]:
    """Slack for the agents, and real mail for the customer: SMTP in, a Maildir out."""
    async with FakeSlack() as fake:
        settings = settings_factory(
            slack=slack_section(fake),
            email={"enabled": True, "port": 0, "addresses": [SUPPORT], "from_address": SUPPORT,
                   "outbound": {"transport": "maildir", "maildir": str(tmp_path / "outbox")}},
        )  # fmt: skip
        email = EmailChannel(settings)
        channels = [SlackChannel(settings, ping_interval=1.0), email]
        async with App(settings, clock=clock, channels=channels, background=False) as app:
            async with aiohttp.ClientSession() as http:
                yield app, fake, email, http


def delivered(folder: Path) -> list[EmailMessage]:
    """Every mail the customer got: automatic ones (the acknowledgement) first."""
    box = mailbox.Maildir(str(folder), create=False)
    found = [BytesParser(policy=default).parsebytes(box.get_bytes(key)) for key in box.keys()]
    mails = [m for m in found if isinstance(m, EmailMessage)]
    return sorted(mails, key=lambda m: m["Auto-Submitted"] is None)


async def test_an_agents_file_in_the_card_thread_reaches_an_email_customer_as_an_attachment(
    mail_world: tuple[App, FakeSlack, EmailChannel, aiohttp.ClientSession], tmp_path: Path
) -> None:
    from tests.fake_slack_payloads import post_signed

    app, fake, email, http = mail_world
    mail = (
        f"From: Bob <bob@example.org>\r\nTo: {SUPPORT}\r\nSubject: Invoice 1042 is wrong\r\n"
        "Message-ID: <inv-1@example.org>\r\n\r\nThe total is off by 10 EUR.\r\n"
    ).encode()
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=email.port) as client:
        await client.sendmail("bob@example.org", [SUPPORT], mail)
    await app.drain()
    [card] = fake.cards(TRIAGE)

    invoice = fake.host_file("invoice-1042.pdf", INVOICE, "application/pdf")
    url = f"http://127.0.0.1:{app.web_port}/slack/events"
    await post_signed(http, url, shares(ALICE, TRIAGE, "The corrected invoice is attached",
                                        [invoice], thread_ts=card))  # fmt: skip
    await app.drain()

    ack, answer = delivered(tmp_path / "outbox")
    assert "T-1" in str(ack["Subject"]) and not list(ack.iter_attachments())
    assert answer["To"] == "bob@example.org"
    assert answer["In-Reply-To"] == "<inv-1@example.org>"
    body = answer.get_body(("plain",))
    assert body is not None and "The corrected invoice is attached" in body.get_content()
    [attached] = list(answer.iter_attachments())
    assert attached.get_filename() == "invoice-1042.pdf"
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_content() == INVOICE


async def test_files_nobody_at_the_desk_will_read_are_not_downloaded(world: SlackWorld) -> None:
    _, card = await open_ticket(world)
    shot = world.slack.host_file("meme.png", SCREENSHOT, "image/png")
    await world.post(shares("UDAN", TRIAGE, "lol", [shot], thread_ts=card))  # not an agent
    elsewhere = message("UDAN", "C0RANDOM", "unrelated")
    await world.post(shares("UDAN", "C0RANDOM", "look", [shot], thread_ts=elsewhere["ts"]))
    await world.drain()

    assert not [call for call in world.slack.calls if call.method == "download"]
    assert world.slack.uploads == []
    assert len(await world.tickets()) == 1

"""The promise loop's alerts about an incident reach the agents whether or not tickets are
linked: in the triage channel itself (not one ticket's card thread) and in each agent's
mailbox, worded about the incident."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.app import App
from channels.email import EmailChannel
from tests.fake_slack_payloads import envelope, message
from tests.fake_slack_world import HELP, TRIAGE, SlackWorld, slack_world
from tests.fake_smtp import CaptureSMTP

SUPPORT, ALICE, BOB = "support@acme.test", "alice@example.com", "bob@example.com"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 23, hour, minute, tzinfo=UTC)


@pytest.fixture
async def world(settings_factory: Any, clock: Any) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock) as running:
        yield running


async def _agent(app: App, words: str) -> str:
    reply = await app.desk.run_as("alice", words)
    assert reply.ok, reply.text
    return str(reply.text)


def _in_triage(world: SlackWorld, words: str) -> list[dict[str, Any]]:
    return [post for post in world.slack.posted(TRIAGE) if words in post.get("text", "")]


async def test_an_incident_with_no_ticket_is_nudged_and_asked_for_a_new_eta_in_triage(
    world: SlackWorld, clock: Any
) -> None:
    await _agent(world.app, "incident Card payments failing")  # 09:00: news owed by 13:00
    clock.set(at(12, 50))
    await world.drain()
    [nudge] = _in_triage(world, "next public update is due")
    assert nudge["text"].startswith('INC-1 ("Card payments failing"): its next public update')
    assert "Mon 23 Nov, 13:00" in nudge["text"] and "no tickets linked yet" in nudge["text"]
    assert "thread_ts" not in nudge, "in the triage channel itself: the incident has no card"
    await world.drain()
    assert len(_in_triage(world, "next public update is due")) == 1, "once"

    clock.set(at(12, 55))
    await _agent(world.app, "eta INC-1 in 1h")
    clock.set(at(14))
    await world.drain()
    [missed] = _in_triage(world, "has passed")
    assert missed["text"].startswith(
        'INC-1 ("Card payments failing"): the ETA Mon 23 Nov, 13:55 (UTC) has passed'
    )
    assert "Set a new ETA (eta INC-1 &lt;when&gt;)" in missed["text"]  # as Slack escapes it
    assert "thread_ts" not in missed


async def test_with_linked_tickets_the_alert_is_about_the_incident_not_its_first_ticket(
    world: SlackWorld, clock: Any
) -> None:
    await world.post(envelope(message("UCAROL", HELP, "Card payments fail at checkout")))
    await world.drain()
    assert [post for post in world.slack.posted(TRIAGE) if "blocks" in post], "T-1's card"
    await _agent(world.app, "incident Card payments failing")
    await _agent(world.app, "link T-1 INC-1")
    clock.set(at(12, 50))
    await world.drain()
    [nudge] = _in_triage(world, "owed an update")
    assert nudge["text"].startswith('INC-1 ("Card payments failing"): 1 linked customer(s)')
    assert "thread_ts" not in nudge, "in the triage channel, not filed in T-1's card thread"
    assert "T-1" not in nudge["text"]


async def test_agents_who_read_mail_get_the_incident_s_nudge_with_no_ticket_linked(
    settings_factory: Any, clock: Any
) -> None:
    async with CaptureSMTP() as relay:
        settings = settings_factory(
            email={
                "enabled": True, "port": 0, "addresses": [SUPPORT], "from_address": SUPPORT,
                "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": relay.port},
            },
            web={"port": 0, "secret": "a long random test secret"},
            agents={"alice": {"email": ALICE}, "bob": {"email": BOB}},
        )  # fmt: skip
        channel = EmailChannel(settings)
        async with App(settings, clock=clock, channels=[channel], background=False) as app:
            await _agent(app, "incident Card payments failing")
            clock.set(at(12, 50))
            await app.drain()
            for agent in (ALICE, BOB):
                [notice] = [sent for sent in relay.messages if sent.rcpt_tos == [agent]]
                subject = notice.message["Subject"]
                assert subject == "[INC-1] Update due soon: Card payments failing"
                assert notice.text.startswith('INC-1 ("Card payments failing")')
                assert "Reply-To" not in notice.message, "an answer to it could run nothing"


async def test_an_incident_s_notices_share_one_thread_per_mailbox(
    settings_factory: Any, clock: Any
) -> None:
    """Mail clients group an incident's notices as they group a ticket's: each mailbox's
    notices about INC-1 name one thread root in References, its own, not any ticket's."""
    async with CaptureSMTP() as relay:
        settings = settings_factory(
            email={
                "enabled": True, "port": 0, "addresses": [SUPPORT], "from_address": SUPPORT,
                "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": relay.port},
            },
            web={"port": 0, "secret": "a long random test secret"},
            agents={"alice": {"email": ALICE}, "bob": {"email": BOB}},
        )  # fmt: skip
        channel = EmailChannel(settings)
        async with App(settings, clock=clock, channels=[channel], background=False) as app:
            await _agent(app, "incident Card payments failing")
            clock.set(at(12, 50))
            await app.drain()  # "Update due soon"
            clock.set(at(12, 55))
            await _agent(app, "eta INC-1 in 1h")
            clock.set(at(14))
            await app.drain()  # "ETA missed"
        roots = {}
        for agent in (ALICE, BOB):
            mails = [sent.message for sent in relay.messages if sent.rcpt_tos == [agent]]
            notices = [mail for mail in mails if mail["Subject"].startswith("[INC-1]")]
            assert [m["Subject"] for m in notices] == [
                "[INC-1] Update due soon: Card payments failing",
                "[INC-1] ETA missed: Card payments failing",
            ]
            [root] = {m["References"] for m in notices}
            assert root is not None and root.startswith("<inc-1.notices.")
            assert root.endswith("@acme.test>") and root not in {m["Message-ID"] for m in notices}
            roots[agent] = root
        assert roots[ALICE] != roots[BOB], "one thread per mailbox"

"""One outage, three customers, three channels, one incident: what each of them read.

Ann writes by email (real SMTP both ways), Sam in the Slack help channel (the real slack-bolt
app behind real HTTP, against the fake Slack Web API), Dee in the Discord help channel (the
real discord.py client against the fake Discord). Alice, an agent, runs the incident from
Slack's `/ticket`: opened with `incident` and `link`, or from the possible-incident card's
"Open incident" button. The clock is the test's: an hour of silence passes in a line."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import aiosmtplib
import pytest

from bot.app import App
from channels.discord import DiscordChannel
from channels.email import EmailChannel
from channels.slack import SlackChannel
from core.channel import Channel
from core.clock import FakeClock
from tests.fake_discord import FakeDiscord, FakeUser
from tests.fake_discord_harness import fast_channel, settle
from tests.fake_slack import FakeSlack
from tests.fake_slack_payloads import button, envelope, message, post_signed, slash_command
from tests.fake_slack_world import HELP, TRIAGE, slack_section
from tests.fake_smtp import CaptureSMTP
from tests.test_email_app import SUPPORT, mail

ANN = "ann@example.org"


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, 23, hour, minute, second, tzinfo=UTC)


@dataclass
class Outage:
    """The desk and everyone's side of it."""

    app: App
    clock: FakeClock
    relay: CaptureSMTP
    email: EmailChannel
    slack: FakeSlack
    discord: FakeDiscord
    bot: DiscordChannel
    http: aiohttp.ClientSession
    dee: FakeUser
    sam_thread: str = ""
    dee_thread: str = ""

    async def ann_mails(self, subject: str, body: str, message_id: str) -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=self.email.port) as client:
            await client.sendmail(ANN, [SUPPORT], mail(subject, body, message_id=message_id))

    async def to_slack(self, body: dict[str, Any] | str) -> str:
        url = f"http://127.0.0.1:{self.app.web_port}/slack/events"
        status, text = await post_signed(self.http, url, body)
        assert status == 200, text
        return text

    async def alice(self, words: str) -> str:
        """Alice types `/ticket <words>` in Slack; the answer she sees."""
        return str(json.loads(await self.to_slack(slash_command("UALICE", "alice", words)))["text"])

    async def alice_presses(self, pressed: dict[str, Any], card: dict[str, Any]) -> str:
        """Alice presses a button on a card in Slack's triage channel; what Slack shows her."""
        [card_ts] = [str(call.answer["ts"]) for call in self.slack.calls
                     if call.method == "chat.postMessage" and call.args is card]  # fmt: skip
        before = len(self.slack.calls_to("chat.postEphemeral"))
        await self.to_slack(button("UALICE", "alice", pressed["action_id"], pressed["value"],
                                   channel=TRIAGE, card_ts=card_ts))  # fmt: skip
        [whisper] = self.slack.calls_to("chat.postEphemeral")[before:]
        assert whisper["user"] == "UALICE"
        return str(whisper["text"])

    async def at(self, moment: datetime) -> dict[str, list[str]]:
        """The clock moves on, the desk works; what each customer read meanwhile."""
        before = self.heard()
        self.clock.set(moment)
        await settle(self.discord, self.bot)
        await self.app.drain()
        await settle(self.discord, self.bot)
        return {who: texts[len(before[who]) :] for who, texts in self.heard().items()}

    def heard(self) -> dict[str, list[str]]:
        """Everything each customer has read, on their own channel and thread only."""
        sam = [post["text"] for post in self.slack.posted(HELP)
               if post.get("thread_ts") == self.sam_thread]  # fmt: skip
        return {
            "ann": [m.text for m in self.relay.messages if m.rcpt_tos == [ANN]],
            "sam": sam,
            "dee": [m["content"] for m in self.discord.sent(self.dee_thread)],
        }

    def mails(self) -> list[Any]:
        return [m for m in self.relay.messages if m.rcpt_tos == [ANN]]


@pytest.fixture
async def outage(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Outage]:
    async with CaptureSMTP() as relay, FakeSlack() as slack, FakeDiscord() as discord:
        support = discord.guild.roles["support"]
        settings = settings_factory(
            email={"enabled": True, "port": 0, "addresses": [SUPPORT], "from_address": SUPPORT,
                   "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": relay.port}},
            slack=slack_section(slack),
            discord={"enabled": True, "token": "test-token", "api_url": discord.api_url,
                     "gateway_url": discord.gateway_url, "guild": discord.guild.id,
                     "intake_channels": [discord.guild.channels["help"]],
                     "triage_channel": discord.guild.channels["triage"],
                     "agent_roles": [support]},
            # The incident is owed news every hour; the ETA below is two hours out.
            reminders={"cadence": {"high": "1h"}},
        )  # fmt: skip
        email, bot = EmailChannel(settings), fast_channel(settings)
        channels: list[Channel] = [email, SlackChannel(settings, ping_interval=1.0), bot]
        async with (
            App(settings, clock=clock, channels=channels, background=False) as app,
            aiohttp.ClientSession() as http,
        ):
            yield Outage(app, clock, relay, email, slack, discord, bot, http, discord.user("dee"))
        assert bot.connection is not None and bot.connection.exception() is None


async def _report(outage: Outage, subject: str, ann: str, sam: str, dee: str) -> dict[str, str]:
    """09:00 — the same outage, three ways; each customer is acknowledged once. Their refs."""
    await outage.ann_mails(subject, ann, "<ann-1@example.org>")
    said = message("USAM", HELP, sam)
    outage.sam_thread = said["ts"]
    await outage.to_slack(envelope(said))
    root = await outage.discord.say(outage.dee, outage.discord.guild.channels["help"], dee)
    outage.dee_thread = root["id"]  # the bot answers in a thread on her message
    acks = await outage.at(at(9))
    assert {who: len(texts) for who, texts in acks.items()} == {"ann": 1, "sam": 1, "dee": 1}
    refs = {t["requester"]["address"]: t["ref"] for t in await outage.app.list_tickets()}
    return {"ann": refs[ANN], "sam": refs["USAM"], "dee": refs[outage.dee.id]}


async def _the_incident_runs_its_course(outage: Outage, title: str) -> None:
    """From 09:20: one ETA, silence, the incident's promise, the missed ETA, the resolution;
    each customer reads each of them exactly once, on their own channel and thread."""
    outage.clock.set(at(9, 20))
    answer = await outage.alice("eta INC-1 in 2h Rerouting payments to the backup processor.")
    assert answer.startswith("INC-1: ETA Mon 23 Nov, 11:20") and "3 linked ticket(s) told" in answer
    told = await outage.at(at(9, 20, 6))  # after the ETA notice's settle time
    for who, texts in told.items():
        assert len(texts) == 1, (who, texts)
        assert f"{title} (INC-1)" in texts[0]
        assert "we expect this to be resolved by Mon 23 Nov, 11:20" in texts[0]
        assert "Rerouting payments to the backup processor." in texts[0]
    [_ack, eta_mail] = outage.mails()
    assert eta_mail.message["In-Reply-To"] == "<ann-1@example.org>", "in Ann's own thread"

    # Silence. 10:05 — the agents are nudged once for the incident, the customers not at all.
    assert await outage.at(at(10, 5)) == {"ann": [], "sam": [], "dee": []}
    nudges = [p for p in outage.slack.posted(TRIAGE) if "owed an update" in p["text"]]
    assert len(nudges) == 1 and nudges[0]["text"].startswith("INC-1")
    assert "3 linked customer(s)" in nudges[0]["text"]

    # 10:20 — the incident's promise falls due: one automatic update each.
    updates = await outage.at(at(10, 20))
    for who, texts in updates.items():
        assert len(texts) == 1, (who, texts)
        assert texts[0].startswith(f"No news yet on {title} (INC-1)")
        assert "by Mon 23 Nov, 11:20 (UTC), sooner if anything changes" in texts[0]
    assert await outage.at(at(10, 50)) == {"ann": [], "sam": [], "dee": []}

    # 11:20 — the ETA is missed: exactly one apology each, and nothing more after it.
    apologies = await outage.at(at(11, 20))
    for who, texts in apologies.items():
        assert len(texts) == 1, (who, texts)
        assert "would be fixed by Mon 23 Nov, 11:20 (UTC), and we missed that" in texts[0]
        assert texts[0].lower().count("sorry") == 1
    assert await outage.at(at(11, 50)) == {"ann": [], "sam": [], "dee": []}

    # 12:00 — resolved: all three tickets, each customer told once.
    outage.clock.set(at(12))
    answer = await outage.alice("resolve INC-1 Payments go through again.")
    assert answer == "INC-1 resolved; 3 linked ticket(s) resolved, each told"
    resolved = await outage.at(at(12, 0, 1))
    for who, texts in resolved.items():
        assert len(texts) == 1, (who, texts)
        assert "Payments go through again." in texts[0]
    assert [t["status"] for t in await outage.app.list_tickets()] == ["resolved"] * 3
    assert await outage.at(at(15)) == {"ann": [], "sam": [], "dee": []}, "nothing after"


async def test_three_customers_one_outage_one_incident_each_told_once(outage: Outage) -> None:
    refs = await _report(
        outage, "Card payment fails", "My card is declined at checkout.",
        "card payments failing for us", "Checkout says payment declined",
    )  # fmt: skip

    # 09:10 — Alice opens the incident and links the three tickets.
    outage.clock.set(at(9, 10))
    assert (await outage.alice("incident Card payments failing")).startswith("INC-1 opened")
    for ref in refs.values():
        assert await outage.alice(f"link {ref} INC-1") == f"{ref} linked to INC-1"

    await _the_incident_runs_its_course(outage, "Card payments failing")


def _open_incident_button(post: dict[str, Any]) -> dict[str, Any]:
    actions = [block for block in post.get("blocks", []) if block["type"] == "actions"]
    elements = [element for block in actions for element in block["elements"]]
    [found] = [element for element in elements if element["text"]["text"] == "Open incident"]
    return dict(found)


async def test_the_possible_incident_card_button_opens_the_incident(outage: Outage) -> None:
    # 09:00 — alike enough for the desk to see one outage ([incidents] suggest_after = 3).
    refs = await _report(
        outage, "Card payments failing at checkout", "My card is declined at checkout.",
        "Card payments failing at checkout for us, every card refused",
        "Card payments failing at checkout: payment declined",
    )  # fmt: skip
    [card] = [p for p in outage.slack.posted(TRIAGE) if p["text"].startswith("Possible incident")]
    assert "Possible incident P-1: 3 similar tickets within 30m" in card["text"]
    assert all(f"{ref} " in card["text"] for ref in refs.values())
    # The same card in Discord's triage channel, with the same button.
    [on_discord] = [m for m in outage.discord.sent(outage.discord.guild.channels["triage"])
                    if m["content"].startswith("Possible incident P-1")]  # fmt: skip
    labels = [c["label"] for row in on_discord["components"] for c in row["components"]]
    assert labels == ["Open incident"]

    # 09:10 — Alice presses the card's "Open incident" button in Slack.
    outage.clock.set(at(9, 10))
    pressed = _open_incident_button(card)
    assert pressed["value"] == "confirm P-1"
    answer = await outage.alice_presses(pressed, card)
    title = "Card payments failing at checkout"
    linked = ", ".join(sorted(refs.values(), key=lambda ref: int(ref.removeprefix("T-"))))
    assert answer == f"INC-1 opened from P-1: {title}; linked {linked}"
    # A new incident has no news yet: linking tells the customers nothing.
    assert await outage.at(at(9, 10, 1)) == {"ann": [], "sam": [], "dee": []}

    await _the_incident_runs_its_course(outage, title)

"""Agents on Discord see the whole conversation: follow-ups in the card's thread, the card
current, a waiting ticket's answer called out, and `show` with the timeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from bot.app import App
from channels.discord import DiscordChannel
from core.clock import FakeClock
from tests.fake_channel import FakeChannel
from tests.fake_discord import FakeDiscord
from tests.fake_discord_harness import discord_config, fast_channel, settle
from tests.fake_discord_payloads import FakeUser


@dataclass
class Desk:
    app: App
    fake: FakeDiscord
    bot: DiscordChannel
    email: FakeChannel
    alice: FakeUser  # a customer
    bob: FakeUser  # an agent by role

    async def settle(self) -> None:
        await settle(self.fake, self.bot)
        await self.app.drain()
        await settle(self.fake, self.bot)

    def card(self) -> dict[str, Any]:
        [card] = self.fake.sent(self.fake.guild.channels["triage"])
        return card

    def thread(self) -> list[str]:
        """What agents read in the card's thread."""
        return [m["content"] for m in self.fake.sent(self.card()["id"])]

    def fields(self) -> dict[str, str]:
        """The card's embed fields as they are now (after any edit)."""
        embed = self.fake.messages[self.card()["id"]]["embeds"][0]
        return {f["name"]: f["value"] for f in embed["fields"]} | {"": embed["description"]}


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Desk]:
    async with FakeDiscord() as fake:
        support = fake.guild.roles["support"]
        settings = settings_factory(
            discord=discord_config(fake),
            reminders={"business_hours": {"timezone": "Europe/Berlin"}},
        )  # fmt: skip
        bot = fast_channel(settings)
        email = FakeChannel(name="email")
        async with App(settings, clock=clock, channels=[bot, email], background=False) as app:
            yield Desk(app, fake, bot, email, fake.user("alice"),
                       fake.user("bob", roles=(support,)))  # fmt: skip
        assert fake.unhandled == [] and fake.invalid == []


async def test_a_dm_follow_up_is_posted_in_the_card_thread_and_shown_on_the_card(
    desk: Desk, clock: FakeClock
) -> None:
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()
    assert desk.thread() == []
    clock.advance(timedelta(minutes=12))
    await desk.fake.dm(desk.alice, "It also happens on the office Wi-Fi")
    await desk.settle()

    [told] = desk.thread()
    assert told.startswith("T-1: Alice wrote on discord, Mon 23 Nov, 10:12 (Europe/Berlin):\n")
    assert told.endswith("It also happens on the office Wi-Fi")
    fields = desk.fields()
    assert fields[""] == "My VPN drops every 5 minutes", "the first message stays"
    latest = fields["Latest from Alice"]
    assert latest.endswith("It also happens on the office Wi-Fi")
    when = int(clock.now().timestamp())
    assert f"<t:{when}:f>" in latest and fields["Customer last wrote"] == f"<t:{when}:R>"


async def test_an_email_follow_up_reaches_the_discord_card_thread(desk: Desk) -> None:
    await desk.email.say("carol@example.com", "The CRM export is empty", message_id="<x1@e>",
                         name="Carol")  # fmt: skip
    await desk.settle()
    await desk.email.say("carol@example.com", "Only for the EU region", message_id="<x2@e>",
                         thread="<x1@e>", name="Carol")  # fmt: skip
    await desk.settle()

    [told] = desk.thread()
    heading = "T-1: Carol wrote on email, Mon 23 Nov, 10:00 (Europe/Berlin):"
    assert told == f"{heading}\nOnly for the EU region"
    assert desk.fields()["Latest from Carol"].endswith("Only for the EU region")


async def test_a_reply_on_a_waiting_ticket_tells_the_agents_and_keeps_the_assignee(
    desk: Desk,
) -> None:
    await desk.fake.dm(desk.alice, "Payroll export fails at 50%")
    await desk.settle()
    await desk.fake.click(desk.bob, desk.card(), "Take")
    triage = desk.fake.guild.channels["triage"]
    await desk.fake.slash(desk.bob, "wait", channel_id=triage, ticket="T-1",
                          what="a screenshot of the error")  # fmt: skip
    await desk.settle()
    held_by = (await desk.app.list_tickets())[0]["assignee"]
    assert held_by

    await desk.fake.dm(desk.alice, "Here it is: error 0x80070005")
    await desk.settle()

    [told] = desk.thread()
    assert told.startswith(
        'T-1: customer answered — ticket was waiting on "a screenshot of the error". '
        f"It is still waiting and still with {held_by}"
    )
    assert told.endswith("Here it is: error 0x80070005")
    [ticket] = await desk.app.list_tickets()
    assert ticket["assignee"] == held_by and ticket["status"] == "waiting"


async def test_show_gives_the_timeline_in_the_desk_timezone_with_notes_marked(
    desk: Desk, clock: FakeClock
) -> None:
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()
    clock.advance(timedelta(minutes=5))
    await desk.fake.say(desk.bob, desk.card()["id"], "note: the tunnel times out")
    await desk.settle()

    answer = await desk.fake.slash(desk.bob, "show", channel_id=desk.fake.guild.channels["triage"],
                                   ticket="T-1")  # fmt: skip
    shown = "\n".join(answer.texts()).splitlines()
    start = shown.index("timeline (all events; times in Europe/Berlin):")
    first = "Mon 23 Nov, 10:00 customer_message Alice: My VPN drops every 5 minutes"
    assert shown[start + 1] == first
    assert shown[-1].startswith("Mon 23 Nov, 10:05 note [internal] discord:")
    assert shown[-1].endswith(": the tunnel times out")

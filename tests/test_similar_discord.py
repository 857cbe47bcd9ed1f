"""Similar tickets through the real discord.py client and fake Discord: one possible-incident
card for three alike, its button, "Link to INC-n" on a card, and the incident subcommands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.app import App
from channels.discord import DiscordChannel
from core.agents import NOT_AN_AGENT
from core.clock import FakeClock
from core.incidents.views import list_incidents
from tests.fake_channel import FakeChannel
from tests.fake_discord import FakeDiscord
from tests.fake_discord_harness import discord_config, fast_channel, settle
from tests.fake_discord_payloads import FakeUser

OUTAGE = (
    ("carol", "The login page shows error 502 since this morning"),
    ("dave", "Cannot log in: the login page gives error 502"),
    ("erin", "Login page down, error 502 for everyone here"),
)


@dataclass
class Desk:
    app: App
    fake: FakeDiscord
    bot: DiscordChannel
    bob: FakeUser  # an agent by role
    mallory: FakeUser  # not an agent

    @property
    def triage(self) -> str:
        return self.fake.guild.channels["triage"]

    async def settle(self) -> None:
        await settle(self.fake, self.bot)
        await self.app.drain()
        await settle(self.fake, self.bot)

    async def report(self, *reports: tuple[str, str]) -> None:
        for name, text in reports:
            await self.fake.dm(self.fake.user(name), text)
        await self.settle()

    def possible_incidents(self) -> list[dict[str, Any]]:
        sent = self.fake.sent(self.triage)
        return [m for m in sent if m["content"].startswith("Possible incident")]

    def card(self, ref: str) -> dict[str, Any]:
        [card] = [m for m in self.fake.sent(self.triage)
                  if m["embeds"] and m["embeds"][0]["title"].startswith(f"{ref} ")]  # fmt: skip
        return self.fake.messages[card["id"]]  # as last edited

    async def slash(self, person: FakeUser, sub: str, **options: str) -> str:
        answer = await self.fake.slash(person, sub, channel_id=self.triage, **options)
        return "\n".join(answer.texts())

    async def click(self, person: FakeUser, message: dict[str, Any], label: str) -> str:
        return "\n".join((await self.fake.click(person, message, label)).texts())

    async def incidents(self) -> list[dict[str, Any]]:
        async with self.app.db.sessions() as session:
            return await list_incidents(session)


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Desk]:
    async with FakeDiscord() as fake:
        support = fake.guild.roles["support"]
        settings = settings_factory(discord=discord_config(fake))
        bot = fast_channel(settings)
        channels = [bot, FakeChannel(name="email")]
        async with App(settings, clock=clock, channels=channels, background=False) as app:
            yield Desk(app, fake, bot, fake.user("bob", roles=(support,)), fake.user("mallory"))
        assert fake.unhandled == [] and fake.invalid == []


async def test_three_alike_one_card_and_its_button_opens_the_incident(desk: Desk) -> None:
    await desk.report(*OUTAGE)
    [card] = desk.possible_incidents()
    assert "Possible incident P-1: 3 similar tickets within 30m" in card["content"]
    looks = {f["name"]: f["value"] for f in desk.card("T-3")["embeds"][0]["fields"]}
    assert "T-1" in looks["Looks like"] and "T-2" in looks["Looks like"]

    refused = await desk.click(desk.mallory, card, "Open incident")
    assert refused == NOT_AN_AGENT
    assert await desk.incidents() == []
    opened = await desk.click(desk.bob, card, "Open incident")
    assert opened.startswith("INC-1 opened from P-1: ") and opened.endswith("T-1, T-2, T-3")
    again = await desk.click(desk.bob, card, "Open incident")
    assert again == f"P-1 was already opened as INC-1 by discord:{desk.bob.id}; nothing changed"
    [incident] = await desk.incidents()
    assert incident["tickets"] == ["T-1", "T-2", "T-3"]

    await desk.report(("frank", "Error 502 on the login page again"))
    assert len(desk.possible_incidents()) == 1
    linked = await desk.click(desk.bob, desk.card("T-4"), "Link to INC-1")
    assert linked == "T-4 linked to INC-1"
    assert (await desk.incidents())[0]["tickets"] == ["T-1", "T-2", "T-3", "T-4"]


async def test_incident_link_unlink_and_similar_subcommands(desk: Desk) -> None:
    await desk.report(*OUTAGE, ("gina", "Please send me last month's invoice as a PDF"))
    listed = (await desk.slash(desk.bob, "similar", ticket="T-3")).splitlines()
    assert {line.split()[0] for line in listed[1:]} == {"T-1", "T-2"}
    assert await desk.slash(desk.bob, "similar", ticket="T-99") == "there is no ticket T-99"

    opened = await desk.slash(desk.bob, "incident", title="Login outage", service="sso")
    assert opened.startswith("INC-1 opened: Login outage (investigating)")
    choices = await desk.fake.autocomplete(desk.bob, "link", "incident", channel_id=desk.triage,
                                           ticket="T-1", incident="log")  # fmt: skip
    assert [c["value"] for c in choices.choices()] == ["INC-1"]
    nothing = await desk.fake.autocomplete(desk.mallory, "link", "incident", channel_id=desk.triage,
                                           ticket="T-1", incident="")  # fmt: skip
    assert nothing.choices() == []
    assert await desk.slash(desk.bob, "link", ticket="T-1", incident="INC-1") == (
        "T-1 linked to INC-1"
    )
    assert await desk.slash(desk.bob, "link", ticket="T-2", incident="INC-9") == (
        "there is no incident INC-9"
    )
    assert await desk.slash(desk.bob, "unlink", ticket="T-1") == "T-1 unlinked from INC-1"
    assert await desk.slash(desk.bob, "unlink", ticket="T-1") == "T-1 is not linked to an incident"
    assert (await desk.incidents())[0]["tickets"] == []

    # A new report like the incident itself: its card offers the incident.
    await desk.report(("hank", "Login outage? The login page gives me 502"))
    looks = {f["name"]: f["value"] for f in desk.card("T-5")["embeds"][0]["fields"]}
    assert looks["Looks like"].startswith("INC-1 Login outage (")
    linked = await desk.click(desk.bob, desk.card("T-5"), "Link to INC-1")
    assert linked == "T-5 linked to INC-1"
    assert (await desk.incidents())[0]["tickets"] == ["T-5"]

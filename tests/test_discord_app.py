"""Customer and agent journeys through the App, with the real discord.Client and fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from bot.app import App
from channels.discord import DiscordChannel
from core.channel import Channel
from core.clock import FakeClock
from tests.fake_channel import FakeChannel
from tests.fake_discord import FakeDiscord
from tests.fake_discord_harness import fast_channel, settle
from tests.fake_discord_payloads import FakeUser


@dataclass
class Desk:
    """Everything a test talks to: the app, the fake Discord and its people, a second channel."""

    app: App
    fake: FakeDiscord
    bot: DiscordChannel
    other: FakeChannel
    alice: FakeUser  # a customer
    bob: FakeUser  # an agent by role
    mallory: FakeUser  # neither

    async def settle(self) -> None:
        """Let the bot store what it received, then let the core process and deliver it all."""
        await settle(self.fake, self.bot)
        await self.app.drain()
        await settle(self.fake, self.bot)

    def dm(self, person: FakeUser) -> list[str]:
        """What `person` has read from the bot in their DMs."""
        return [m["content"] for m in self.fake.sent(self.fake.dm_channel(person)["id"])]

    def cards(self) -> list[dict[str, Any]]:
        return self.fake.sent(self.fake.guild.channels["triage"])

    async def ticket(self, number: int = 1) -> dict[str, Any]:
        found = await self.app.show_ticket(number)
        assert found is not None
        return found


@pytest.fixture(params=["email", "slack"])
async def desk(
    request: pytest.FixtureRequest, settings_factory: Any, clock: FakeClock
) -> AsyncIterator[Desk]:
    async with FakeDiscord() as fake:
        support = fake.guild.roles["support"]
        settings = settings_factory(
            discord={
                "enabled": True,
                "token": "test-token",
                "api_url": fake.api_url,
                "gateway_url": fake.gateway_url,
                "guild": fake.guild.id,
                "intake_channels": [fake.guild.channels["help"]],
                "triage_channel": fake.guild.channels["triage"],
                "agent_roles": [support],
            }
        )
        bot = fast_channel(settings)
        other = FakeChannel(name=request.param)
        channels: list[Channel] = [bot, other]
        async with App(settings, clock=clock, channels=channels, background=False) as app:
            yield Desk(
                app,
                fake,
                bot,
                other,
                alice=fake.user("alice"),
                bob=fake.user("bob", roles=(support,)),
                mallory=fake.user("mallory"),
            )
        assert bot.connection is not None and bot.connection.exception() is None
        assert fake.unhandled == [] and fake.invalid == []


async def test_dm_becomes_a_ticket_acknowledged_in_the_dm_with_a_triage_card(desk: Desk) -> None:
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()

    [ticket] = await desk.app.list_tickets()
    assert (ticket["ref"], ticket["channel"]) == ("T-1", "discord")
    assert ticket["subject"] == "My VPN drops every 5 minutes"
    [ack] = desk.dm(desk.alice)
    assert "logged it as T-1" in ack and "You will hear from us by" in ack
    [card] = desk.cards()
    assert card["embeds"][0]["title"] == "T-1 · My VPN drops every 5 minutes"
    assert [b["label"] for b in card["components"][0]["components"]] == [
        "Take", "Set ETA", "Waiting", "Resolve",
    ]  # fmt: skip


async def test_follow_up_dm_and_a_replayed_event_join_the_same_ticket_once(desk: Desk) -> None:
    before = desk.fake.seq()
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()
    await desk.fake.dm(desk.alice, "It also happens on the office Wi-Fi")
    await desk.fake.drop(replay_from=before)  # the gateway re-delivers both messages
    await desk.settle()

    assert len(await desk.app.list_tickets()) == 1
    events = [e["kind"] for e in (await desk.ticket())["events"]]
    assert events.count("customer_message") == 2
    assert len(desk.dm(desk.alice)) == 1  # one acknowledgement, not one per delivery


async def test_intake_channel_message_gets_a_thread_where_the_conversation_continues(
    desk: Desk,
) -> None:
    help_channel = desk.fake.guild.channels["help"]
    root = await desk.fake.say(desk.alice, help_channel, "Printer on floor 3 jams on A3")
    await desk.settle()

    [ack] = [m["content"] for m in desk.fake.sent(root["id"])]  # the thread on her message
    assert "T-1" in ack
    assert desk.fake.channels[root["id"]]["parent_id"] == help_channel
    assert desk.fake.sent(help_channel) == []  # nothing in the channel itself

    await desk.fake.say(desk.alice, root["id"], "Only the left tray, actually")
    await desk.settle()
    assert len(await desk.app.list_tickets()) == 1
    texts = [e["text"] for e in (await desk.ticket())["events"] if e["kind"] == "customer_message"]
    assert texts == ["Printer on floor 3 jams on A3", "Only the left tray, actually"]

    # An agent answers right there: Alice has read it, so it is recorded as the public reply
    # it is (an update to her), and not sent a second time.
    await desk.fake.say(desk.bob, root["id"], "Swap the left tray's roller, please")
    await desk.settle()
    [reply] = [e for e in (await desk.ticket())["events"] if e["kind"] == "agent_reply"]
    assert reply["text"] == "Swap the left tray's roller, please"
    assert reply["visibility"] == "public"
    assert len(desk.fake.sent(root["id"])) == 1  # still only the acknowledgement


async def test_ticket_new_form_makes_a_ticket_answered_in_dms(desk: Desk) -> None:
    opened = await desk.fake.slash(desk.alice, "new", channel_id=desk.fake.guild.channels["help"])
    await desk.fake.submit(
        desk.alice, opened, {"what": "Payroll export fails at 50%", "impact": "I can't work"}
    )
    await desk.settle()

    [ticket] = await desk.app.list_tickets()
    assert ticket["priority"] == "high" and ticket["subject"] == "Payroll export fails at 50%"
    [ack] = desk.dm(desk.alice)
    assert "T-1" in ack


async def test_agent_eta_reaches_a_discord_customer_in_their_dm(
    desk: Desk, clock: FakeClock
) -> None:
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()
    triage = desk.fake.guild.channels["triage"]

    answer = await desk.fake.slash(
        desk.bob, "eta", channel_id=triage, ticket="T-1", when="tomorrow 10:00"
    )
    clock.advance(desk.app.settings.reminders.settle)  # an ETA notice waits for a newer one
    await desk.settle()

    assert answer.callbacks[0]["data"]["flags"] == 64  # only Bob saw the confirmation
    _ack, update = desk.dm(desk.alice)
    assert "Update on T-1: we expect this to be resolved by" in update
    assert (await desk.app.list_tickets())[0]["eta"] == "2026-11-24T10:00:00Z"


async def test_agent_eta_from_discord_reaches_a_customer_on_another_channel(
    desk: Desk, clock: FakeClock
) -> None:
    other = desk.other
    await other.say("carol", "The CRM export is empty", message_id="x1", name="Carol")
    await desk.settle()
    assert desk.cards()[0]["embeds"][0]["title"] == "T-1 · The CRM export is empty"

    triage = desk.fake.guild.channels["triage"]
    await desk.fake.slash(desk.bob, "eta", channel_id=triage, ticket="T-1", when="tomorrow 10:00")
    clock.advance(desk.app.settings.reminders.settle)  # an ETA notice waits for a newer one
    await desk.settle()

    _ack, update = other.texts_to("carol")
    assert "Update on T-1: we expect this to be resolved by" in update
    assert desk.dm(desk.alice) == []  # nothing leaked to Discord customers


async def test_agent_reply_in_the_card_thread_goes_to_the_customer_and_notes_do_not(
    desk: Desk,
) -> None:
    await desk.other.say("carol", "The CRM export is empty", message_id="x1", name="Carol")
    await desk.settle()
    [card] = desk.cards()
    await desk.fake.say(desk.bob, card["id"], "note: looks like the nightly job")
    await desk.fake.say(desk.bob, card["id"], "We found it: the nightly job stopped. Rerunning.")
    await desk.settle()

    texts = desk.other.texts_to("carol")
    assert any("We found it: the nightly job stopped" in t for t in texts)
    assert not any('nightly job"' in t or "looks like" in t for t in texts)
    kinds = [e["kind"] for e in (await desk.ticket())["events"]]
    assert "note" in kinds and "agent_reply" in kinds


async def test_non_agent_is_refused_and_nothing_changes(desk: Desk) -> None:
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()
    before = await desk.ticket()

    answer = await desk.fake.slash(
        desk.mallory, "resolve", channel_id=desk.fake.guild.channels["help"], ticket="T-1"
    )
    await desk.settle()

    [text] = answer.texts()
    assert "agent" in text.lower()
    assert answer.callbacks[0]["data"]["flags"] == 64
    assert await desk.ticket() == before


async def test_mass_mentions_in_customer_text_never_ping(desk: Desk) -> None:
    await desk.fake.dm(desk.alice, "@everyone @here the <@&1> printer is down")
    await desk.settle()
    triage = desk.fake.guild.channels["triage"]
    await desk.fake.slash(desk.bob, "reply", channel_id=triage, ticket="T-1", text="@everyone ok")
    await desk.settle()

    messages = [r for r in desk.fake.posts() if r.path.endswith("/messages")]
    messages += desk.fake.posts("PATCH")
    assert len(messages) >= 3  # ack, card, reply
    assert all(r.json["allowed_mentions"] == {"parse": []} for r in messages)


async def test_a_long_agent_reply_arrives_as_two_messages(desk: Desk) -> None:
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()
    steps = "\n".join(f"{n}. " + "Open Settings, then Network, then VPN. " * 3 for n in range(20))
    assert len(steps) > 2000
    triage = desk.fake.guild.channels["triage"]
    await desk.fake.slash(desk.bob, "reply", channel_id=triage, ticket="T-1", text=steps)
    await desk.settle()

    _ack, *reply = desk.dm(desk.alice)
    assert len(reply) == 2 and all(len(part) <= 2000 for part in reply)
    assert "1. Open Settings" in reply[0] and "19. Open Settings" in reply[1]


async def test_closed_dms_record_delivery_failed_and_alert_agents(desk: Desk) -> None:
    desk.fake.dm_closed.add(desk.alice.id)
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()

    kinds = [e["kind"] for e in (await desk.ticket())["events"]]
    assert "delivery_failed" in kinds
    [card] = desk.cards()
    alerts = [m["content"] for m in desk.fake.sent(card["id"])]
    assert any("could not be delivered" in a for a in alerts)


async def test_take_button_assigns_and_the_card_is_edited(desk: Desk) -> None:
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()
    [card] = desk.cards()

    answer = await desk.fake.click(desk.bob, card, "Take")
    await desk.settle()

    assert "T-1" in answer.texts()[0]
    assert (await desk.app.list_tickets())[0]["assignee"]
    fields = {f["name"]: f["value"] for f in desk.fake.messages[card["id"]]["embeds"][0]["fields"]}
    assert fields["Assignee"] != "nobody yet"
    assert len(desk.cards()) == 1  # edited in place, not posted again


async def test_promise_loop_nudges_in_the_card_thread_then_updates_the_customer(
    desk: Desk, clock: FakeClock
) -> None:
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()
    [card] = desk.cards()

    clock.advance(timedelta(hours=23, minutes=50))  # the next update is due in 10 minutes
    await desk.settle()
    [nudge] = [m["content"] for m in desk.fake.sent(card["id"])]
    assert nudge.startswith("T-1") and "owed an update" in nudge
    assert len(desk.dm(desk.alice)) == 1  # nothing automatic yet: a person may write first

    clock.advance(timedelta(minutes=11))
    await desk.settle()
    _ack, update = desk.dm(desk.alice)
    assert update.startswith("An update on T-1") and "nobody has picked it up yet" in update


async def test_an_agent_by_role_is_recorded_by_id_in_commands_and_threads_alike(
    desk: Desk,
) -> None:
    await desk.fake.dm(desk.alice, "My VPN drops every 5 minutes")
    await desk.settle()
    [card] = desk.cards()

    await desk.fake.click(desk.bob, card, "Take")  # a command: Discord gives the user name
    await desk.fake.say(desk.bob, card["id"], "note: the tunnel times out")  # display name
    await desk.settle()

    ticket = await desk.ticket()
    recorded = f"discord:{desk.bob.id}"
    assert ticket["assignee"] == recorded
    authors = {e["author"] for e in ticket["events"] if e["kind"] in ("assigned", "note")}
    assert authors == {recorded}

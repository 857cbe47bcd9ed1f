"""Incidents as customers and agents live them: one update heard by every linked customer,
each on their own channel and thread; resolving the incident resolves their tickets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.app import App
from core.clock import FakeClock
from core.incidents.views import show_incident
from core.storage.models import EventKind
from tests.fake_channel import FakeChannel


@pytest.fixture
async def two_channels(settings_factory: Any, clock: FakeClock) -> AsyncIterator[Any]:
    """Carol writes on one channel, Dan on another; agents drive the desk by its grammar."""
    chat, mail = FakeChannel(name="chat"), FakeChannel(name="mail")
    app = App(settings_factory(), clock=clock, channels=[chat, mail], background=False)
    async with app:
        app.chat, app.mail = chat, mail  # type: ignore[attr-defined]
        yield app


async def _open_two(app: Any) -> None:
    """Carol (T-1, chat) and Dan (T-2, mail) report the same outage and are acknowledged."""
    await app.chat.say("carol", "Card payments fail at checkout", message_id="c1", thread="c1")
    await app.drain()
    await app.mail.say("dan", "Cannot pay by card", message_id="d1", thread="d1")
    await app.drain()
    for fake in (app.chat, app.mail):
        assert [s.message.kind for s in fake.sent] == [EventKind.ACK]
        fake.sent.clear()


async def _agent(app: Any, words: str) -> str:
    reply = await app.desk.run_as("alice", words)
    assert reply.ok, reply.text
    return str(reply.text)


async def _incident(app: Any, number: int) -> dict[str, Any]:
    async with app.db.sessions() as session:
        view = await show_incident(session, number)
    assert view is not None
    return view


async def test_an_incident_update_reaches_each_customer_on_their_own_channel_and_thread(
    two_channels: Any, clock: FakeClock
) -> None:
    app = two_channels
    await _open_two(app)
    opened = await _agent(app, "incident Card payments failing")
    assert opened.startswith("INC-1 opened: Card payments failing")
    # No news yet: linking tells nobody anything.
    assert await _agent(app, "link T-1 INC-1") == "T-1 linked to INC-1"
    assert await _agent(app, "link T-2 INC-1") == "T-2 linked to INC-1"
    await app.drain()
    assert app.chat.sent == [] and app.mail.sent == []

    clock.advance(timedelta(minutes=10))
    said = await _agent(app, "reply INC-1 The card processor is rejecting requests; on it.")
    assert said == "INC-1 (identified) updated; 2 linked ticket(s) told"
    await app.drain()
    [carol] = app.chat.sent
    [dan] = app.mail.sent
    for sent, user, thread in ((carol, "carol", "c1"), (dan, "dan", "d1")):
        assert (sent.target.address, sent.target.thread) == (user, thread)
        assert sent.message.kind == EventKind.AGENT_REPLY
        assert "Card payments failing (INC-1)" in sent.message.text
        assert "We have found the cause" in sent.message.text
        assert "The card processor is rejecting requests; on it." in sent.message.text
    assert "T-1" in carol.message.text and "T-2" in dan.message.text

    # Each ticket's timeline has the update, and it counts as that ticket's update.
    for number in (1, 2):
        ticket = await app.show_ticket(number)
        replies = [e for e in ticket["events"] if e["kind"] == EventKind.AGENT_REPLY]
        assert len(replies) == 1 and "rejecting requests" in replies[0]["text"]
        assert ticket["status"] == "open" and ticket["assignee"] == "alice"
        assert ticket["next_update_due"] > "2026-11-23T09:10:00Z"
    incident = await _incident(app, 1)
    assert incident["state"] == "identified" and incident["tickets"] == ["T-1", "T-2"]
    assert [u["state"] for u in incident["updates"]] == ["identified", "investigating"]

    app.chat.sent.clear()
    app.mail.sent.clear()
    said = await _agent(app, "resolve INC-1 The processor is back; payments go through.")
    assert said == "INC-1 resolved; 2 linked ticket(s) resolved, each told"
    await app.drain()
    for fake, number in ((app.chat, 1), (app.mail, 2)):
        [told] = fake.sent
        assert told.message.kind == EventKind.RESOLVED
        assert "It is fixed." in told.message.text
        assert "The processor is back; payments go through." in told.message.text
        assert f"We have marked T-{number} as resolved" in told.message.text
        assert (await app.show_ticket(number))["status"] == "resolved"
    incident = await _incident(app, 1)
    assert incident["state"] == "resolved" and incident["resolved_at"] is not None
    assert incident["next_update_due"] is None


async def test_a_ticket_linked_to_an_incident_with_news_hears_where_it_stands_at_once(
    desk_app: Any, clock: FakeClock
) -> None:
    fake: FakeChannel = desk_app.fake
    await fake.say("carol", "Login page times out", message_id="m1")
    await fake.say("erin", "Cannot log in", message_id="m2")
    await desk_app.drain()
    fake.sent.clear()
    await _agent(desk_app, "incident Logins time out")
    await _agent(desk_app, "link T-1 INC-1")
    await _agent(desk_app, "reply INC-1 monitoring: A fix is deployed.")
    await desk_app.drain()
    assert fake.texts_to("carol")[-1].count("A fix is in place") == 1
    fake.sent.clear()
    owed = (await _incident(desk_app, 1))["next_update_due"]
    assert owed == "2026-11-23T13:00:00Z"  # the reply at 09:00, at the incident's cadence

    clock.advance(timedelta(minutes=30))  # Erin's own cadence would promise 09:30 tomorrow
    said = await _agent(desk_app, "link T-2 INC-1")
    assert said == "T-2 linked to INC-1; customer told it is monitoring"
    await desk_app.drain()
    [erin] = fake.sent
    assert erin.target.address == "erin"
    assert "part of a wider problem we already know about: Logins time out (INC-1)" in (
        erin.message.text
    )
    assert "A fix is in place and we are watching that it holds." in erin.message.text
    assert "A fix is deployed." in erin.message.text
    # Erin's promise is now the incident's, and that is the time she reads.
    assert "T-2 · next update by Mon 23 Nov, 13:00 (UTC)" in erin.message.text
    shown = await desk_app.show_ticket(2)
    assert shown["next_update_due"] == owed
    assert [(p["kind"], p["due_at"], p["kept"]) for p in shown["promises"]][-2:] == [
        ("next_update", "2026-11-24T09:00:00Z", True),  # the acknowledgement's, kept
        ("next_update", owed, None),
    ]
    assert shown["status"] == "open" and shown["assignee"] == "alice"
    events = (await desk_app.show_ticket(2))["events"]
    assert [e["kind"] for e in events][-2:] == ["incident_linked", EventKind.AGENT_REPLY]
    assert events[-2]["visibility"] == "internal"


async def test_a_person_already_following_the_incident_hears_nothing_when_linked_again(
    two_channels: Any, clock: FakeClock
) -> None:
    """One message per person also on `link`: Carol (T-1 in chat, T-2 by mail: one person,
    joined with `same`) heard the incident's news on T-1; linking T-2 records it on T-2's
    timeline, publicly, and sends her nothing. The next update reaches her once, on T-1."""
    app = two_channels
    await app.chat.say("carol", "Card payments fail at checkout", message_id="c1", thread="c1")
    await app.drain()
    await app.mail.say("carol-mail", "Cannot pay by card", message_id="d1", thread="d1")
    await app.drain()
    assert (await _agent(app, "same T-1 T-2")).startswith("T-1 and T-2")
    await _agent(app, "incident Card payments failing")
    await _agent(app, "link T-1 INC-1")
    await _agent(app, "reply INC-1 The card processor is rejecting requests.")
    await app.drain()
    assert "rejecting requests" in app.chat.sent[-1].message.text
    app.chat.sent.clear()
    app.mail.sent.clear()

    clock.advance(timedelta(minutes=20))
    said = await _agent(app, "link T-2 INC-1")
    assert said == "T-2 linked to INC-1; its customer already follows it on T-1, nothing sent"
    await app.drain()
    assert app.chat.sent == [] and app.mail.sent == []
    second = await app.show_ticket(2)
    [news] = [e for e in second["events"] if e["kind"] == EventKind.AGENT_REPLY]
    assert news["visibility"] == "public" and "rejecting requests" in news["text"]
    # T-2 moves with the incident all the same: its promise is the incident's.
    assert second["next_update_due"] == (await _incident(app, 1))["next_update_due"]
    assert second["status"] == "open" and second["assignee"] == "alice"

    await _agent(app, "reply INC-1 Payments are going through again for most cards.")
    await app.drain()
    assert [s.target.thread for s in app.chat.sent] == ["c1"] and app.mail.sent == []


async def test_an_incident_eta_and_wait_reach_linked_tickets(
    desk_app: Any, clock: FakeClock
) -> None:
    fake: FakeChannel = desk_app.fake
    await fake.say("carol", "Exports are empty", message_id="m1")
    await desk_app.drain()
    fake.sent.clear()
    await _agent(desk_app, "incident Exports broken")
    await _agent(desk_app, "link T-1 INC-1")
    said = await _agent(desk_app, "eta INC-1 2026-11-24 12:00 Rebuilding the export queue.")
    assert said.startswith("INC-1: ETA Tue 24 Nov, 12:00") and said.endswith(
        "1 linked ticket(s) told"
    )
    await desk_app.drain()
    assert fake.sent == [], "an ETA notice settles before it goes"
    clock.advance(desk_app.settings.reminders.settle)
    await desk_app.drain()
    [eta] = fake.sent
    assert eta.message.kind == EventKind.ETA_SET
    assert "we expect this to be resolved by Tue 24 Nov, 12:00" in eta.message.text
    assert "Rebuilding the export queue." in eta.message.text
    assert (await desk_app.show_ticket(1))["eta"] == "2026-11-24T12:00:00Z"
    fake.sent.clear()

    await _agent(desk_app, 'wait INC-1 "the storage vendor" They are restoring a disk.')
    await desk_app.drain()
    [waiting] = fake.sent
    assert waiting.message.kind == EventKind.WAITING
    assert "the storage vendor" in waiting.message.text
    ticket = await desk_app.show_ticket(1)
    assert ticket["status"] == "waiting" and ticket["waiting_on"] == "the storage vendor"
    incident = await _incident(desk_app, 1)
    assert incident["eta"] == "2026-11-24T12:00:00Z"
    assert (
        incident["updates"][0]["text"]
        == "Waiting on the storage vendor. They are restoring a disk."
    )


async def test_closed_and_unlinked_tickets_hear_nothing_of_the_incident(
    desk_app: Any, clock: FakeClock
) -> None:
    fake: FakeChannel = desk_app.fake
    for user, message in (("carol", "m1"), ("dan", "m2"), ("erin", "m3")):
        await fake.say(user, "Search is down", message_id=message)
    await desk_app.drain()
    fake.sent.clear()
    await _agent(desk_app, "incident Search down")
    for number in (1, 2, 3):
        await _agent(desk_app, f"link T-{number} INC-1")
    await _agent(desk_app, "resolve T-2 Your case was something else.")
    assert await _agent(desk_app, "unlink T-3") == "T-3 unlinked from INC-1"
    await desk_app.drain()
    fake.sent.clear()
    assert (await _agent(desk_app, "reply INC-1 Index rebuilt.")).endswith(
        "1 linked ticket(s) told"
    )
    await desk_app.drain()
    assert [s.target.address for s in fake.sent] == ["carol"]
    assert (await _incident(desk_app, 1))["tickets"] == ["T-1", "T-2"]


async def test_bad_incident_commands_say_what_is_wrong_and_change_nothing(
    desk_app: Any, clock: FakeClock
) -> None:
    fake: FakeChannel = desk_app.fake
    await fake.say("carol", "VPN drops", message_id="m1")
    await fake.say("dan", "VPN drops too", message_id="m2")
    await desk_app.drain()
    await _agent(desk_app, "close T-2")
    await _agent(desk_app, "incident VPN unstable")
    await _agent(desk_app, "link T-1 INC-1")
    await _agent(desk_app, "incident Old problem")
    await _agent(desk_app, "resolve INC-2")
    await _agent(desk_app, "incident Another one")
    await desk_app.drain()
    fake.sent.clear()
    before = [await desk_app.show_ticket(n) for n in (1, 2)], await _incident(desk_app, 1)

    refusals = {
        "incident": "missing title; usage: incident <title> [[service]]",
        "incident    ": "missing title; usage: incident <title> [[service]]",
        "incident " + "x" * 201: "the title has 201 characters; at most 200",
        "incident [payments]": "missing title; usage: incident <title> [[service]]",
        "incident Payments down [ ]": "the [service] after the title is empty",
        "incident Down [" + "s" * 101 + "]": "the service has 101 characters; at most 100",
        "reply INC-9 hello": "there is no incident INC-9",
        "show INC-9": "there is no incident INC-9",
        "link T-2 INC-1": "T-2 is closed; only an open ticket can be linked",
        "link T-1 INC-1": "T-1 is already linked to INC-1",
        "link T-1 INC-3": "T-1 is linked to INC-1; unlink it first",
        "link T-1 INC-9": "there is no incident INC-9",
        "link T-1 INC-2": "INC-2 is resolved; a ticket can only join an open incident",
        "link T-1": "missing incident; usage: link <ticket> <INC-n>",
        "link T-1 T-2": '"T-2" is not an incident; write INC-7',
        "link T-1 INC-1 now": "unexpected words after the incident; usage: link <ticket> <INC-n>",
        "unlink T-2": "T-2 is not linked to an incident",
        "note INC-1 hi": "`note` takes a ticket, not an incident; incidents take eta, reply, "
        "resolve, show, wait",
        "reply INC-2 again": "INC-2 is resolved; open a new incident for a new problem",
        "resolve INC-2": "INC-2 is resolved; open a new incident for a new problem",
        "reply INC-1": "missing text; usage: reply <ticket> <text>|@<saved reply>",
        "reply INC-1 monitoring:": "missing text after the state; e.g. reply INC-3 monitoring: …",
        "reply INC-1 Resolved: all good": "to resolve an incident, use `resolve INC-1 [text]`",
        "eta INC-1 2026-11-20 09:00": "that time is in the past; an ETA must be in the future",
    }
    for words, refusal in refusals.items():
        reply = await desk_app.desk.run_as("alice", words)
        assert (reply.ok, reply.text) == (False, refusal), words
    await desk_app.drain()
    assert fake.sent == []
    after = [await desk_app.show_ticket(n) for n in (1, 2)], await _incident(desk_app, 1)
    assert after == before
    async with desk_app.db.sessions() as session:
        assert await show_incident(session, 4) is None


async def test_show_an_incident_to_an_agent(desk_app: Any, clock: FakeClock) -> None:
    await desk_app.fake.say("carol", "Mail is slow", message_id="m1")
    await desk_app.drain()
    await _agent(desk_app, "incident Mail delayed")
    await _agent(desk_app, "link T-1 INC-1")
    await _agent(desk_app, "reply INC-1 A relay is congested.")
    shown = (await _agent(desk_app, "show INC-1")).splitlines()
    assert shown[0] == "INC-1 [identified] Mail delayed"
    assert shown[2] == "tickets: T-1"
    assert shown[3].endswith("[identified] A relay is congested.")


async def test_with_a_public_url_the_customer_can_follow_the_incident_on_the_status_page(
    settings_factory: Any, clock: FakeClock
) -> None:
    fake = FakeChannel()
    settings = settings_factory(web={"port": 0, "public_url": "https://help.example.com/"})
    async with App(settings, clock=clock, channels=[fake], background=False) as app:
        await fake.say("carol", "Uploads fail", message_id="m1")
        await app.drain()
        await _agent(app, "incident Uploads failing")
        await _agent(app, "link T-1 INC-1")
        await _agent(app, "reply INC-1 A storage node is full.")
        await app.drain()
        assert (
            "You can follow it at https://help.example.com/status#INC-1"
            in (fake.texts_to("carol")[-1])
        )
        await _agent(app, "resolve INC-1 Space freed.")
        await app.drain()
        assert "/status" not in fake.texts_to("carol")[-1], "nothing to follow once it is fixed"


async def test_an_incident_may_name_the_service_it_affects(desk_app: Any) -> None:
    opened = await _agent(desk_app, "incident Card payments failing [Payments API]")
    assert opened.startswith("INC-1 opened: Card payments failing (investigating)")
    incident = await _incident(desk_app, 1)
    assert (incident["title"], incident["service"]) == ("Card payments failing", "Payments API")
    shown = await _agent(desk_app, "show INC-1")
    assert shown.splitlines()[0] == (
        "INC-1 [investigating] Card payments failing (service: Payments API)"
    )
    await _agent(desk_app, "incident Fix [urgent] label rendering")  # brackets inside: a title
    assert (await _incident(desk_app, 2))["service"] is None

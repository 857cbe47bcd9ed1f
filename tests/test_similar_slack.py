"""Similar tickets through the real Slack app: three customers report one outage, the agents
get one "possible incident" card, and its button opens the incident with the three linked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from channels.slack.outbound import WORDS
from core.incidents.views import list_incidents
from tests.fake_slack_payloads import button, envelope, message, slash_command
from tests.fake_slack_world import HELP, TRIAGE, SlackWorld, slack_world

ALICE = "UALICE"  # an agent (tests/conftest.py); UDAN is not one
OUTAGE = (
    ("UCAROL", "The login page shows error 502 since this morning"),
    ("UDAVE", "Cannot log in: the login page gives error 502"),
    ("UERIN", "Login page down, error 502 for everyone here"),
)


@pytest.fixture
async def world(settings_factory: Any, clock: Any) -> AsyncIterator[SlackWorld]:
    async with slack_world(settings_factory, clock) as running:
        yield running


async def _report(world: SlackWorld, reports: tuple[tuple[str, str], ...]) -> None:
    for user, text in reports:
        await world.post(envelope(message(user, HELP, text)))
    await world.drain()


async def _slash(world: SlackWorld, words: str, user: str = ALICE) -> str:
    status, text = await world.post(slash_command(user, user.lower(), words))
    assert status == 200
    return str(json.loads(text)["text"])


def _possible_incident_cards(world: SlackWorld) -> list[dict[str, Any]]:
    return [p for p in world.slack.posted(TRIAGE) if p["text"].startswith("Possible incident")]


def _words_buttons(call: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        element
        for block in call.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"].startswith(WORDS)
    ]


def _cards_of(world: SlackWorld, ref: str) -> list[dict[str, Any]]:
    """Each post or edit of the ticket's triage card, in order."""
    calls = [c.args for c in world.slack.calls if c.method in ("chat.postMessage", "chat.update")]
    return [
        c for c in calls if c.get("channel") == TRIAGE and c.get("text", "").startswith(ref + " ")
    ]


async def _press(world: SlackWorld, who: str, found: dict[str, Any]) -> str:
    before = len(world.slack.calls_to("chat.postEphemeral"))
    pressed = button(who, who.lower(), found["action_id"], found["value"], channel=TRIAGE,
                     card_ts="1763900000.000100")  # fmt: skip
    status, _ = await world.post(pressed)
    assert status == 200
    [whisper] = world.slack.calls_to("chat.postEphemeral")[before:]
    assert whisper["user"] == who
    return str(whisper["text"])


async def _incidents(world: SlackWorld) -> list[dict[str, Any]]:
    async with world.app.db.sessions() as session:
        return await list_incidents(session)


async def test_three_alike_make_one_card_whose_button_opens_the_incident(world: SlackWorld) -> None:
    await _report(world, OUTAGE)
    acks = len(world.slack.posted(HELP))
    [card] = _possible_incident_cards(world)
    assert "Possible incident P-1: 3 similar tickets within 30m" in card["text"]
    assert all(f"T-{n} " in card["text"] for n in (1, 2, 3))
    [open_button] = _words_buttons(card)
    assert open_button["text"]["text"] == "Open incident"
    assert open_button["value"] == "confirm P-1"
    # The third ticket's card shows what it looks like.
    [shown] = [c for c in _cards_of(world, "T-3")]
    assert "*Looks like*" in json.dumps(shown) and "T-1" in json.dumps(shown)
    assert "T-2" in json.dumps(shown)

    answer = await _press(world, ALICE, open_button)
    assert answer.startswith("INC-1 opened from P-1: ") and answer.endswith("linked T-1, T-2, T-3")
    [incident] = await _incidents(world)
    assert incident["tickets"] == ["T-1", "T-2", "T-3"] and incident["state"] == "investigating"
    assert "login" in incident["title"].lower()
    await world.drain()
    # A new incident has no news yet: linking tells the customers nothing (docs/incidents.md).
    assert len(world.slack.posted(HELP)) == acks
    assert len(_possible_incident_cards(world)) == 1

    # A fourth report of the same outage: its card offers the incident, and the button links.
    await _report(world, (("UFRANK", "Error 502 on the login page again"),))
    assert len(_possible_incident_cards(world)) == 1, "never a second card for the cluster"
    [link] = _words_buttons(_cards_of(world, "T-4")[-1])
    assert link["text"]["text"] == "Link to INC-1" and link["value"] == "link T-4 INC-1"
    assert await _press(world, ALICE, link) == "T-4 linked to INC-1"
    await world.drain()
    assert _words_buttons(_cards_of(world, "T-4")[-1]) == [], "linked: no button any more"
    assert (await _incidents(world))[0]["tickets"] == ["T-1", "T-2", "T-3", "T-4"]
    assert await _slash(world, "unlink T-4") == "T-4 unlinked from INC-1"


async def test_similar_lists_the_best_matches_with_scores(world: SlackWorld) -> None:
    await _report(world, (*OUTAGE, ("UGINA", "Please send me last month's invoice as a PDF")))
    answer = await _slash(world, "similar T-3")
    lines = answer.splitlines()
    assert lines[0].startswith("Like T-3 (")
    assert {line.split()[0] for line in lines[1:]} == {"T-1", "T-2"}, "not the invoice"
    assert all(line.endswith("%") and "[new]" in line for line in lines[1:])
    assert await _slash(world, "similar T-4") == "no open ticket or incident looks like T-4"


async def test_bad_input_is_refused_and_changes_nothing(world: SlackWorld) -> None:
    await _report(world, OUTAGE)
    assert await _slash(world, "similar T-99") == "there is no ticket T-99"
    assert await _slash(world, "similar") == "missing ticket; usage: similar &lt;ticket&gt;"
    assert await _slash(world, "similar T-1 T-2") == (
        "unexpected words after the ticket; usage: similar &lt;ticket&gt;"
    )
    [open_button] = _words_buttons(_possible_incident_cards(world)[0])
    refused = await _press(world, "UDAN", open_button)
    assert "not set up as an agent" in refused
    assert await _incidents(world) == []
    assert (await _press(world, ALICE, open_button)).startswith("INC-1 opened from P-1")
    again = await _press(world, ALICE, open_button)
    assert again == "P-1 was already opened as INC-1 by alice; nothing changed"
    assert len(await _incidents(world)) == 1
    assert await _slash(world, "confirm P-7") == "there is no possible incident P-7"
    forged = {"action_id": f"{WORDS}0", "value": "resolve T-1"}
    assert await _press(world, ALICE, forged) == (
        "That button is not one Tidings made; nothing was done."
    )
    assert [t["status"] for t in await world.tickets()] == ["new", "new", "new"]


async def test_a_later_alike_ticket_joins_the_card_and_the_window_counts(
    world: SlackWorld, clock: Any
) -> None:
    await _report(world, OUTAGE[:2])
    clock.advance(world.app.settings.incidents.suggest_window * 2)
    await _report(world, OUTAGE[2:])
    assert _possible_incident_cards(world) == [], "the first two are older than the window"
    await _report(world, (("UFRANK", "Error 502 on the login page again"),))
    assert _possible_incident_cards(world) == [], "two alike within the window are not three"
    await _report(world, (("UGINA", "login page: error 502 here too"),))
    [card] = _possible_incident_cards(world)
    assert all(f"T-{n} " in card["text"] for n in (3, 4, 5)) and "T-1 " not in card["text"]
    await _report(world, (("UHANK", "The login page returns error 502"),))
    assert len(_possible_incident_cards(world)) == 1, "T-6 joins P-1: no second card"
    [open_button] = _words_buttons(card)
    assert (await _press(world, ALICE, open_button)).endswith("linked T-3, T-4, T-5, T-6")

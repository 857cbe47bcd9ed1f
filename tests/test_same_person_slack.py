"""A Slack member whose confirmed email is an email customer's address is linked automatically."""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.clock import FakeClock
from tests.fake_slack_payloads import envelope, message, slash_command
from tests.fake_slack_world import HELP, SlackWorld, slack_world
from tests.test_same_person import CAROL_MAIL, CAROL_SLACK, _automatic, at


@pytest.fixture
async def world(settings_factory: Any, clock: FakeClock) -> AsyncIterator[SlackWorld]:
    def capped(**sections: Any) -> Any:
        return settings_factory(**sections, reminders={"max_automatic_per_day": 4})

    async with slack_world(capped, clock) as running:
        yield running


async def _show(world: SlackWorld, ref: str) -> str:
    _, body = await world.post(slash_command("UALICE", "alice", f"show {ref}"))
    return html.unescape(str(json.loads(body)["text"]))


async def _carol_on_both(world: SlackWorld) -> None:
    await world.email.say(CAROL_MAIL, "The invoices show the wrong VAT", message_id="m1")
    await world.drain()
    await world.post(envelope(message(CAROL_SLACK, HELP, "The VPN drops every 5 minutes")))
    await world.drain()


async def test_a_member_with_the_same_confirmed_email_is_one_person_under_one_cap(
    world: SlackWorld, clock: FakeClock
) -> None:
    world.slack.member(CAROL_SLACK, "Carol@Example.com")  # Slack keeps the case she typed
    await _carol_on_both(world)
    assert "also: email carol@example.com" in await _show(world, "T-2")
    assert "also: slack UCAROL" in await _show(world, "T-1")

    for ref in ("T-1", "T-2"):
        assert (await world.app.desk.run_as("alice", f"priority {ref} high")).ok
        assert (await world.app.desk.run_as("alice", f"reply {ref} Looking into it.")).ok
    await world.drain()
    mails, posts = len(world.email.sent), len(world.slack.posted(HELP))
    for moment in (at(13), at(17), at(21), at(8, 59, day=24)):
        clock.set(moment)
        await world.drain()
    # The cap of 4 across email and Slack: two acknowledgements, then two updates.
    assert len(_automatic(world, mails, posts)) == 2

    # She writes again: users.info was asked once, and nothing is linked twice.
    await world.post(envelope(message(CAROL_SLACK, HELP, "Still dropping")))
    await world.drain()
    assert [c["user"] for c in world.slack.calls_to("users.info")] == [CAROL_SLACK]


async def test_the_link_is_made_when_the_email_contact_comes_after_slack(
    world: SlackWorld,
) -> None:
    world.slack.member(CAROL_SLACK, CAROL_MAIL)
    await world.post(envelope(message(CAROL_SLACK, HELP, "The VPN drops every 5 minutes")))
    await world.drain()
    await world.email.say(CAROL_MAIL, "The invoices show the wrong VAT", message_id="m1")
    await world.drain()
    assert "also:" not in await _show(world, "T-1")  # nothing to link to yet
    await world.post(envelope(message(CAROL_SLACK, HELP, "Also: the VPN client crashed")))
    await world.drain()
    assert "also: email carol@example.com" in await _show(world, "T-1")


@pytest.mark.parametrize(
    ("why", "fields"),
    [
        ("another organisation (Slack Connect)", {"team_id": "T0OTHER", "is_stranger": True}),
        ("an address not confirmed", {"is_email_confirmed": False}),
        ("a deactivated account", {"deleted": True}),
        ("a bot user", {"is_bot": True}),
    ],
)
async def test_emails_slack_does_not_vouch_for_link_nobody(
    world: SlackWorld, why: str, fields: dict[str, Any]
) -> None:
    world.slack.member(CAROL_SLACK, CAROL_MAIL, **fields)
    await _carol_on_both(world)
    assert "also:" not in await _show(world, "T-2"), why


async def test_without_the_email_scope_nobody_is_linked_and_intake_goes_on(
    world: SlackWorld,
) -> None:
    world.slack.fail("users.info", error="missing_scope")
    await _carol_on_both(world)
    assert len(await world.tickets()) == 2
    assert "also:" not in await _show(world, "T-2")

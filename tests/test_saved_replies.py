"""Saved replies: `reply T-1 @name` sends a sandboxed template as a normal reply; `replies`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from core.clock import FakeClock
from tests.fake_channel import FakeChannel

VPN_RESET = (
    "Hi {{ requester }}, about {{ ref }} ({{ subject }}): please reset your VPN profile.\n"
    "{% if eta %}We expect it fixed by {{ eta }}.{% endif %}\n"
    "{{ assignee }} ({{ status }}, {{ priority }}{{ ', waiting on ' ~ waiting_on if waiting_on }})"
)
KNOWN = "blank, bomb, broken, divide, escape, power, range, secret, thanks, vpn-reset"
SAVED = {
    "vpn-reset.j2": VPN_RESET,
    "thanks.j2": "\n\nThanks for your patience, {{ requester }}!",
    "secret.j2": "{{ customer.password }}",
    "escape.j2": "{{ ref.__class__.__mro__[1].__subclasses__() }}",
    "broken.j2": "{% if %}",
    "blank.j2": "{% if eta %}{{ eta }}{% endif %}",
    "bomb.j2": "{{ 'x' * 1000000000 }}",
    "power.j2": "{{ 9 ** 9 ** 9 }}",
    "range.j2": "{% for n in range(10000000) %}x{% endfor %}",
    "divide.j2": "{{ 1 / 0 }}",
    "notes.txt": "not a saved reply: wrong suffix",
}


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock, tmp_path: Path) -> AsyncIterator[App]:
    folder = tmp_path / "replies"
    folder.mkdir()
    for name, source in SAVED.items():
        (folder / name).write_text(source)
    fake = FakeChannel()
    settings = settings_factory(replies={"dir": str(folder)})
    async with App(settings, clock=clock, channels=[fake], background=False) as app:
        app.fake = fake  # type: ignore[attr-defined]
        await fake.say("carol", "The VPN drops every 5 minutes", message_id="m1", name="Carol")
        await app.drain()
        fake.sent.clear()
        yield app


async def test_a_saved_reply_is_a_normal_public_reply_with_the_tickets_fields(desk: Any) -> None:
    assert (await desk.desk.run_as("alice", "eta T-1 2026-11-24 15:00")).ok
    sent = await desk.desk.run_as("alice", "reply T-1 @vpn-reset")
    assert sent.ok and sent.text == 'saved reply "vpn-reset" sent to T-1'
    await desk.drain()

    said = (
        "Hi Carol, about T-1 (The VPN drops every 5 minutes): please reset your VPN profile.\n"
        "We expect it fixed by Tue 24 Nov, 15:00 (UTC).\n"
        "alice (open, normal)"
    )
    [reply] = [s for s in desk.fake.sent if s.message.kind == "agent_reply"]
    assert reply.target.address == "carol" and said in reply.message.text
    shown = await desk.show_ticket(1)
    assert shown["events"][-1]["kind"] == "agent_reply"
    assert shown["events"][-1]["visibility"] == "public"
    assert shown["events"][-1]["text"] == said, "the timeline keeps what the customer read"


async def test_replies_lists_each_saved_reply_with_its_first_line(desk: Any) -> None:
    listed = await desk.desk.run_as("bob", "replies")
    assert listed.ok
    assert listed.text.splitlines() == [
        "@blank — {% if eta %}{{ eta }}{% endif %}",
        "@bomb — {{ 'x' * 1000000000 }}",
        "@broken — {% if %}",
        "@divide — {{ 1 / 0 }}",
        "@escape — {{ ref.__class__.__mro__[1].__subclasses__() }}",
        "@power — {{ 9 ** 9 ** 9 }}",
        "@range — {% for n in range(10000000) %}x{% endfor %}",
        "@secret — {{ customer.password }}",
        "@thanks — Thanks for your patience, {{ requester }}!",
        "@vpn-reset — Hi {{ requester }}, about {{ ref }} ({{ subject }}): "
        "please reset your VPN profi…",
    ]


@pytest.mark.parametrize(
    ("words", "error"),
    [
        ("reply T-1 @nope", f'there is no saved reply "nope"; saved replies: {KNOWN}'),
        ("reply T-1 @notes", f'there is no saved reply "notes"; saved replies: {KNOWN}'),
        ("reply T-1 @secret", "saved reply \"secret\" cannot be used: 'customer' is undefined"),
        ("reply T-1 @broken", 'saved reply "broken" cannot be used: Expected an expression'),
        ("reply T-1 @escape", 'saved reply "escape" cannot be used: access to attribute'),
        ("reply T-1 @blank", 'saved reply "blank" is empty for T-1; nothing was sent'),
        (
            "reply T-1 @bomb",
            'saved reply "bomb" cannot be used: a saved reply repeats text to '
            "at most 1000 characters",
        ),
        ("reply T-1 @power", 'saved reply "power" cannot be used: powers are not allowed'),
        ("reply T-1 @range", 'saved reply "range" cannot be used: OverflowError: Range too big'),
        ("reply T-1 @divide", 'saved reply "divide" cannot be used: ZeroDivisionError'),
    ],
)
async def test_a_saved_reply_that_cannot_be_sent_changes_nothing(
    desk: Any, words: str, error: str
) -> None:
    before = await desk.show_ticket(1)
    refused = await desk.desk.run_as("alice", words)
    assert not refused.ok and refused.text.startswith(error), refused.text
    await desk.drain()
    assert desk.fake.sent == []
    after = await desk.show_ticket(1)
    assert after == before, "no event, no status change, no assignee"


async def test_a_reply_that_only_starts_with_an_at_is_sent_as_written(desk: Any) -> None:
    assert (await desk.desk.run_as("alice", "reply T-1 @carol it works again?")).ok
    await desk.drain()
    assert "@carol it works again?" in desk.fake.sent[-1].message.text


async def test_without_a_folder_saved_replies_say_how_to_set_one(desk_app: Any) -> None:
    await desk_app.fake.say("carol", "Printer jammed", message_id="m1")
    await desk_app.drain()
    advice = "no saved replies: set [replies] dir to a folder of .j2 files"
    assert (await desk_app.desk.run_as("alice", "replies")).text == advice
    refused = await desk_app.desk.run_as("alice", "reply T-1 @thanks")
    assert not refused.ok and refused.text == advice
    assert (await desk_app.desk.run_as("alice", "replies now")).text == (
        "unexpected words; usage: replies"
    )

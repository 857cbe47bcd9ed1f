"""The fake Discord itself: it must refuse what Discord refuses, or the other tests prove little."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fake_discord import FakeDiscord
from tests.fake_discord_rules import callback_problems, command_problems, message_problems


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


async def test_json_is_served_with_the_exact_content_type_discord_py_expects(
    fake: FakeDiscord,
) -> None:
    async with aiohttp.ClientSession() as session, session.get(fake.api_url + "/users/@me") as got:
        assert got.headers["Content-Type"] == "application/json"
        assert (await got.json())["id"] == fake.bot.id


async def test_a_rate_limit_carries_retry_after_and_via(fake: FakeDiscord) -> None:
    fake.rate_limit_next("GET", "/users/@me", retry_after=1.5)
    async with aiohttp.ClientSession() as session, session.get(fake.api_url + "/users/@me") as got:
        assert got.status == 429 and got.headers["Via"]
        assert (await got.json())["retry_after"] == 1.5
    assert [r.status for r in fake.requests] == [429]


def command(**overrides: Any) -> dict[str, Any]:
    base = {"name": "ticket", "description": "Help desk", "type": 1, "options": []}
    return base | overrides


@pytest.mark.parametrize(
    ("commands", "problem"),
    [
        ([command(name="Ticket")], "bad name"),
        ([command(description="")], "length 0"),
        ([command(description="d" * 101)], "length 101"),
        (
            [command(options=[
                {"name": "a", "description": "a", "type": 3},
                {"name": "b", "description": "b", "type": 3, "required": True},
            ])],
            "required option after an optional one",
        ),
        ([command(options=[{"name": f"o{n}", "description": "o", "type": 3} for n in range(26)])],
         "more than 25 options"),
    ],
)  # fmt: skip
def test_command_sync_rules(commands: list[dict[str, Any]], problem: str) -> None:
    assert any(problem in found for found in command_problems(commands))


def test_message_and_modal_rules() -> None:
    button = {"type": 2, "style": 1, "label": "x" * 81, "custom_id": "tidings:take:1"}
    assert message_problems({"components": [{"type": 1, "components": [button]}]})
    assert message_problems({"content": "x" * 2001}) == ["content: length 2001 not in 0..2000"]
    modal = {"type": 9, "data": {"custom_id": "m", "title": "t" * 46, "components": []}}
    assert set(callback_problems(modal)) == {
        "modal title: length 46 not in 1..45",
        "modal without components",
    }
    too_many = {"type": 8, "data": {"choices": [{"name": "c", "value": "c"}] * 26}}
    assert callback_problems(too_many) == ["more than 25 choices"]
    assert callback_problems({"type": 4, "data": {"content": "ok", "flags": 64}}) == []

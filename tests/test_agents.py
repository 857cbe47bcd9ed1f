"""The one agent check: who may act, under which recorded name, on every channel and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.app import App
from core.agents import CLI, Agent, Recognised, authorise
from core.channel import Actor
from core.clock import FakeClock
from core.config import load_settings
from tests.fake_channel import FakeChannel

SUPPORT_ROLE = "77"


def _settings() -> Any:
    return load_settings(
        None,
        agents={"alice": {"slack": "UALICE", "discord": "1001"}},
        discord={"agent_roles": [SUPPORT_ROLE]},
    )


def test_configured_agents_are_known_by_platform_id_and_recorded_by_configured_name() -> None:
    settings = _settings()
    assert authorise(settings, "slack", "UALICE") == Agent("alice", Recognised.BY_ID)
    # Holding the role too changes nothing: the configured name wins.
    assert authorise(settings, "discord", "1001", (SUPPORT_ROLE,)) == Agent(
        "alice", Recognised.BY_ID
    )
    assert authorise(settings, "slack", "1001") is None  # a Discord id means nothing on Slack
    assert authorise(settings, "slack", "") is None


def test_an_agent_by_role_is_recorded_by_platform_id() -> None:
    settings = _settings()
    assert authorise(settings, "discord", "555", (SUPPORT_ROLE, "12")) == Agent(
        "discord:555", Recognised.BY_ROLE
    )
    assert authorise(settings, "discord", "555", ("12",)) is None
    assert authorise(settings, "slack", "555", (SUPPORT_ROLE,)) is None  # roles are Discord's


def test_the_command_line_names_a_configured_agent() -> None:
    settings = _settings()
    assert authorise(settings, CLI, "alice") == Agent("alice", Recognised.BY_NAME)
    assert authorise(settings, CLI, "UALICE") is None
    assert authorise(settings, CLI, "mallory") is None


def test_the_built_in_defaults_have_one_demo_agent_and_a_config_file_has_only_its_own(
    tmp_path: Path,
) -> None:
    assert authorise(load_settings(None), CLI, "alice") == Agent("alice", Recognised.BY_NAME)
    assert authorise(load_settings(None), CLI, "bob") is None
    path = tmp_path / "tidings.toml"
    path.write_text("[email]\nenabled = false\n")
    assert load_settings(path).agents == {}
    assert authorise(load_settings(path), CLI, "alice") is None
    path.write_text('[agents.bob]\nslack = "UBOB"\n')
    assert set(load_settings(path).agents) == {"bob"}


async def test_only_configured_agents_act_from_the_command_line(desk_app: Any) -> None:
    await desk_app.fake.say("carol", "Screen flickers", message_id="m1")
    await desk_app.drain()
    before = await desk_app.show_ticket(1)

    refused = await desk_app.desk.command(Actor(CLI, "mallory"), "resolve T-1")
    assert not refused.ok
    assert refused.text == "mallory is not a configured agent; add [agents.mallory] to the config"
    assert await desk_app.show_ticket(1) == before

    done = await desk_app.desk.command(Actor(CLI, "bob"), "take T-1")
    assert done.ok, done.text
    assert (await desk_app.show_ticket(1))["assignee"] == "bob"


async def test_a_discord_agent_by_role_keeps_one_name_whatever_they_are_called(
    settings_factory: Any, clock: FakeClock
) -> None:
    fake = FakeChannel()
    settings = settings_factory(discord={"agent_roles": [SUPPORT_ROLE]})
    async with App(settings, clock=clock, channels=[fake], background=False) as app:
        await fake.say("carol", "Screen flickers", message_id="m1")
        await app.drain()
        as_bob = Actor("discord", "555", "bob", (SUPPORT_ROLE,))
        as_bobby = Actor("discord", "555", "Bobby (on call)", (SUPPORT_ROLE,))
        impostor = Actor("discord", "666", "bob", (SUPPORT_ROLE,))
        assert (await app.desk.command(as_bob, "take T-1")).ok
        assert (await app.desk.command(as_bobby, "note T-1 rebooted the screen")).ok
        assert (await app.desk.command(impostor, "note T-1 not me")).ok
        ticket = await app.show_ticket(1)

    assert ticket["assignee"] == "discord:555"
    notes = [(e["author"], e["text"]) for e in ticket["events"] if e["kind"] == "note"]
    assert notes == [("discord:555", "rebooted the screen"), ("discord:666", "not me")]


async def test_an_empty_list_says_so_in_plain_words(desk_app: Any) -> None:
    expected = {
        "list": "no tickets are open",
        "list mine": "you hold no tickets",
        "list waiting": "no tickets are waiting on anyone",
        "list overdue": "no tickets are overdue",
    }
    for words, text in expected.items():
        reply = await desk_app.desk.run_as("alice", words)
        assert reply.ok and reply.text == text, (words, reply.text)

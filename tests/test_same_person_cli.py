"""`tidings agent --as alice same T-1 T-2` from the command line: a transcript."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from core.clock import FakeClock
from tests.fake_channel import FakeChannel
from tests.test_cli_words import _agent_config, _cli


async def test_same_from_the_command_line(
    database_url: str,
    settings_factory: Any,
    clock: FakeClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _agent_config(tmp_path, database_url, '[agents.alice]\nslack = "UALICE"\n')
    email, chat = FakeChannel(name="email"), FakeChannel(name="chat")
    async with App(
        settings_factory(), clock=clock, channels=[email, chat], background=False
    ) as app:
        await email.say("carol@example.com", "Invoices show the wrong VAT", message_id="m1")
        await chat.say("carol-chat", "The VPN drops", message_id="c1")
        await app.drain()

        async def agent(*words: str) -> tuple[int, str, str]:
            return await _cli(capsys, "--config", config, "agent", "--as", "alice", *words)

        code, _, err = await agent("same", "T-2", "#2")
        assert (
            code == 1 and "T-2 twice: `same` links the requesters of two different tickets" in err
        )
        code, _, err = await agent("same", "T-1", "T-3")
        assert code == 1 and "there is no ticket T-3" in err
        code, out, _ = await agent("show", "T-1")
        assert code == 0 and "also:" not in out

        code, out, _ = await agent("same", "T-1", "T-2")
        assert code == 0
        assert (
            "T-1 and T-2 are from one person now (email carol@example.com, chat carol-chat)" in out
        )
        code, out, _ = await agent("show", "T-1")
        assert "also: chat carol-chat" in out
        code, _, err = await agent("same", "2", "1")
        assert code == 1 and "T-2 and T-1 are already from one person; nothing changed" in err

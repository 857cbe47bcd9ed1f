"""Discord thread chatter outside intake channels: dropped before storing; a stock client beside.

Run by hand: `.venv/bin/python -m bench.discord_threads [--events N]`. Everything talks to the
fake Discord (tests/fake_discord.py) on loopback in this process, with SQLite. Printed in one
run, for N messages in a thread of an ordinary channel:
- a stock discord.Client whose on_message does nothing (the baseline);
- Tidings, the thread being nobody's ticket: messages per second and database reads made
  (TicketThreads remembers the answer), then the same with the answer never remembered;
- Tidings, the thread being a ticket's (Log as ticket): messages per second, each one stored.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import discord
from sqlalchemy import func, select

from bot.app import App
from channels.discord import DiscordChannel
from channels.discord.channel import point_discord_py_at
from channels.discord.client import TidingsClient, intents
from channels.discord.log_menu import LOG_AS_TICKET
from core.config import load_settings
from core.storage.models import InboxRow
from tests.fake_discord import FakeDiscord
from tests.fake_discord_harness import settle


async def chatter(
    fake: FakeDiscord, events: int, thread: str, handled: Callable[[], Awaitable[None]]
) -> None:
    """One message after another, each handled before the next: a busy thread, not a burst
    (in a burst, messages of one thread arriving together share one database read anyway)."""
    people = [fake.user(f"member{n}") for n in range(20)]
    for n in range(events):
        await fake.say(people[n % len(people)], thread, f"lunch at 12? ({n})")
        await handled()


async def new_thread(fake: FakeDiscord) -> str:
    root = await fake.say(fake.user("starter"), fake.guild.channels["random"], "Lunch?")
    return await fake.start_thread(fake.user("starter"), root, "lunch")


async def stock(fake: FakeDiscord, events: int) -> float:
    point_discord_py_at(fake.api_url, fake.gateway_url)
    seen = asyncio.Event()
    client = discord.Client(intents=intents(), guild_ready_timeout=0.05)

    @client.event
    async def on_message(message: discord.Message) -> None:
        seen.set()

    async def handled() -> None:
        await asyncio.wait_for(seen.wait(), 10)
        seen.clear()

    await client.login("bench")
    task = asyncio.create_task(client.connect())
    await client.wait_until_ready()
    thread = await new_thread(fake)
    await handled()  # the thread's root message is not part of the run
    start = time.perf_counter()
    await chatter(fake, events, thread, handled)
    elapsed = time.perf_counter() - start
    await client.close()
    await task
    return events / elapsed


def settings_for(fake: FakeDiscord, folder: str) -> Any:
    return load_settings(
        None,
        database={"url": f"sqlite+aiosqlite:///{folder}/bench.db"},
        email={"enabled": False},
        web={"port": 0},
        discord={
            "enabled": True, "token": "bench", "api_url": fake.api_url,
            "gateway_url": fake.gateway_url, "guild": fake.guild.id,
            "intake_channels": [fake.guild.channels["help"]],
            "triage_channel": fake.guild.channels["triage"],
            "agent_roles": [fake.guild.roles["support"]],
        },
    )  # fmt: skip


def finished(client: TidingsClient) -> Callable[[], Awaitable[None]]:
    """Wait for the client's next on_message to end (a heartbeat round trip per message, as
    settle() does, would run into discord.py's own limit on gateway sends)."""
    done = asyncio.Event()
    handle = client.on_message

    async def on_message(message: discord.Message) -> None:
        await handle(message)
        done.set()

    client.on_message = on_message  # type: ignore[method-assign]

    async def handled() -> None:
        await asyncio.wait_for(done.wait(), 10)
        done.clear()

    return handled


async def inbox_size(app: App) -> int:
    async with app.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(InboxRow)) or 0)


async def tidings(
    fake: FakeDiscord, events: int, folder: str, *, remember: bool, ticket: bool
) -> tuple[float, int, int]:
    """Messages per second, inbox rows stored and database reads for one thread's messages."""
    settings = settings_for(fake, folder)
    channel = DiscordChannel(settings, guild_ready_timeout=0.05)
    async with App(settings, channels=[channel], background=False) as app:
        assert channel.client is not None
        threads = channel.client.ticket_threads
        if not remember:
            threads.forget_after = 0.0
        thread = await new_thread(fake)
        if ticket:
            agent = fake.user("agent", roles=(fake.guild.roles["support"],))
            await fake.use_on_message(agent, fake.messages[thread], LOG_AS_TICKET)
            await settle(fake, channel)
            await app.drain()
        await settle(fake, channel)
        before, asked = await inbox_size(app), threads.lookups
        start = time.perf_counter()
        await chatter(fake, events, thread, finished(channel.client))
        elapsed = time.perf_counter() - start
        return events / elapsed, await inbox_size(app) - before, threads.lookups - asked


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    n = args.events
    with tempfile.TemporaryDirectory() as folder:
        async with FakeDiscord() as fake:
            baseline = await stock(fake, n)
        runs = {}
        for name, remember, ticket in (("cached", True, False), ("uncached", False, False),
                                       ("ticket", True, True)):  # fmt: skip
            place = Path(folder, name)
            await asyncio.to_thread(place.mkdir)
            async with FakeDiscord() as fake:
                runs[name] = await tidings(fake, n, str(place), remember=remember, ticket=ticket)
    print(f"stock discord.Client (no-op on_message):       {baseline:8.0f} msg/s")
    labels = {
        "cached": "Tidings, nobody's thread (answer remembered):",
        "uncached": "Tidings, nobody's thread (never remembered): ",
        "ticket": "Tidings, a ticket's thread (all stored):     ",
    }
    for name, (rate, stored, reads) in runs.items():
        print(f"{labels[name]}  {rate:8.0f} msg/s  ratio {rate / baseline:.2f}  "
              f"stored {stored}/{n}  database reads {reads}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())

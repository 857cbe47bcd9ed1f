"""Discord benchmark: gateway messages -> durably stored, and replies sent, next to a stock client.

Run by hand: `.venv/bin/python bench/discord.py [--events N]`. Both sides talk to the fake
Discord (tests/fake_discord.py) on loopback in this process. Printed in one run:
- intake: DMs per second from MESSAGE_CREATE to committed in Tidings' inbox (SQLite), next to a
  stock discord.Client whose on_message does nothing;
- sending: replies per second through DiscordChannel.send, next to a bare
  PartialMessageable.send on the same client.
"""

# ruff: noqa: E402  (imports follow the sys.path fix below, on purpose)
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script, bench/ would come first on sys.path and this file would shadow discord.py.
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
while str(HERE) in sys.path:
    sys.path.remove(str(HERE))

import discord

from bot.app import App
from channels.discord import DiscordChannel
from channels.discord.channel import point_discord_py_at
from channels.discord.client import intents
from core.channel import OutboundMessage, ReplyTarget
from core.config import load_settings
from tests.fake_discord import FakeDiscord
from tests.fake_discord_harness import settle

TEXT = "The VPN drops every few minutes since this morning"


async def blast(fake: FakeDiscord, events: int) -> None:
    people = [fake.user(f"customer{n}") for n in range(50)]
    for n in range(events):
        await fake.dm(people[n % len(people)], f"{TEXT} ({n})")


async def stock_intake(fake: FakeDiscord, events: int) -> float:
    point_discord_py_at(fake.api_url, fake.gateway_url)
    seen = 0
    done = asyncio.Event()
    client = discord.Client(intents=intents(), guild_ready_timeout=0.05)

    @client.event
    async def on_message(message: discord.Message) -> None:
        nonlocal seen
        seen += 1
        if seen == events:
            done.set()

    await client.login("bench")
    task = asyncio.create_task(client.connect())
    await client.wait_until_ready()
    start = time.perf_counter()
    await blast(fake, events)
    await asyncio.wait_for(done.wait(), 120)
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
            "enabled": True,
            "token": "bench",
            "api_url": fake.api_url,
            "gateway_url": fake.gateway_url,
            "guild": fake.guild.id,
        },
    )


async def tidings_intake(fake: FakeDiscord, events: int, folder: str) -> tuple[float, int]:
    channel = DiscordChannel(settings_for(fake, folder), guild_ready_timeout=0.05)
    async with App(settings_for(fake, folder), channels=[channel], background=False) as app:
        start = time.perf_counter()
        await blast(fake, events)
        await settle(fake, channel, within=120)
        elapsed = time.perf_counter() - start
        stored = 0
        while moved := await app.desk.processor.process_pending():
            stored += moved
    return events / elapsed, stored


def reply(n: int) -> OutboundMessage:
    return OutboundMessage(
        ticket_ref=f"T-{n}", subject="VPN", text=f"We are on it ({n}). @everyone",
        kind="agent_reply", automatic=False, token=f"bench-{n}",
    )  # fmt: skip


async def sending(fake: FakeDiscord, events: int, folder: str) -> tuple[float, float]:
    channel = DiscordChannel(settings_for(fake, folder), guild_ready_timeout=0.05)

    class NoIntake:
        async def receive(self, raw: Any) -> bool:
            return True

        async def command(self, actor: Any, text: str) -> Any:
            raise NotImplementedError

        async def search_tickets(self, text: str, limit: int = 25) -> list[tuple[str, str]]:
            return []

        async def search_incidents(self, text: str, limit: int = 25) -> list[tuple[str, str]]:
            return []

    await channel.start(NoIntake())
    assert channel.client is not None
    target = ReplyTarget("discord", fake.dm_channel(fake.user("reader"))["id"], "")
    messageable = channel.client.get_partial_messageable(int(target.address))
    for n in range(50):  # warm up connections and caches so the first side is not penalised
        await channel.send(target, reply(n))
    start = time.perf_counter()
    for n in range(events):
        await messageable.send(reply(n).text)
    stock = events / (time.perf_counter() - start)
    start = time.perf_counter()
    for n in range(events):
        await channel.send(target, reply(n))
    ours = events / (time.perf_counter() - start)
    await channel.stop()
    return stock, ours


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        async with FakeDiscord() as fake:
            baseline = await stock_intake(fake, args.events)
        async with FakeDiscord() as fake:
            rate, processed = await tidings_intake(fake, args.events, folder)
        async with FakeDiscord() as fake:
            stock_send, our_send = await sending(fake, args.events // 4, folder)
    print(f"intake  stock discord.Client (no-op on_message): {baseline:8.0f} DMs/s")
    print(f"intake  Tidings (stored in inbox, SQLite):       {rate:8.0f} DMs/s  "
          f"ratio {rate / baseline:.2f}  ({processed} processed later)")  # fmt: skip
    print(f"send    stock PartialMessageable.send:           {stock_send:8.0f} msg/s")
    print(f"send    DiscordChannel.send:                     {our_send:8.0f} msg/s  "
          f"ratio {our_send / stock_send:.2f}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())

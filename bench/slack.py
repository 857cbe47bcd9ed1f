"""Slack intake benchmark: signed HTTP event -> durably stored, next to a no-op bolt app.

Run by hand from the repository root: `.venv/bin/python -m bench.slack [--events N]
[--concurrency C ...] [--rounds R]` (as a module, so bench/ is not on sys.path, where a sibling
named like a standard module, e.g. bench/email.py, would shadow it). The load comes
from a separate process (so the client does not share the server's event loop). Printed in one
run: events/s through Tidings' /slack/events (ack only after the inbox commit) next to a stock
slack-bolt AsyncApp whose listener does nothing, and the p50/p99 ack latency of both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult

from channels.slack import SlackChannel
from channels.slack.signing import signed_headers
from core.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"


def event_body(n: int, run: str) -> str:
    """A DM to the bot, as the Events API delivers it; distinct ts per event."""
    ts = f"17639{n:05d}.{run}"
    event = {
        "client_msg_id": f"bench-{run}-{n}", "type": "message", "user": "U0BENCH",
        "text": "The VPN drops every few minutes since this morning", "ts": ts,
        "team": "T0BENCH", "channel": "D0BENCH", "event_ts": ts, "channel_type": "im",
    }  # fmt: skip
    return json.dumps({
        "token": "x", "team_id": "T0BENCH", "api_app_id": "A0BENCH", "event": event,
        "type": "event_callback", "event_id": f"Ev{run}{n:07d}", "event_time": 1763900000,
        "authorizations": [{"team_id": "T0BENCH", "user_id": "UBOT", "is_bot": True}],
    })  # fmt: skip


async def load(url: str, events: int, concurrency: int, run: str) -> dict[str, Any]:
    """Client side: POST signed events with `concurrency` in flight; latency per request."""
    latencies: list[float] = []
    failures = 0
    numbers = iter(range(events))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal failures
            for n in numbers:
                body = event_body(n, run)
                headers = signed_headers(SECRET, body)
                start = time.perf_counter()
                async with session.post(url, data=body.encode(), headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        failures += 1
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "rate": events / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "failures": failures,
    }


async def run_client(url: str, events: int, concurrency: int, run: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.slack", "--client", url, str(events), str(concurrency), run,
        stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, _ = await process.communicate()
    return dict(json.loads(out))


def noop_bolt() -> web.Application:
    """The baseline: a stock AsyncApp (default settings) whose message listener does nothing."""

    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=TOKEN)

    bolt = AsyncApp(signing_secret=SECRET, authorize=authorize)

    @bolt.event("message")
    async def nothing() -> None:
        return None

    async def handle(request: web.Request) -> web.StreamResponse:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    return app


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


def durable_commit_rate(folder: Path, rows: int = 1000) -> float:
    """The disk's floor: one INSERT + COMMIT per row, WAL, synchronous=FULL, stdlib sqlite3."""
    connection = sqlite3.connect(folder / "floor.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE inbox (id INTEGER PRIMARY KEY, key TEXT UNIQUE, body BLOB)")
    body = event_body(0, "floor").encode()
    start = time.perf_counter()
    for n in range(rows):
        connection.execute("BEGIN")
        connection.execute("INSERT INTO inbox (key, body) VALUES (?, ?)", (f"k{n}", body))
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return rows / elapsed


async def inbox_rows(tidings: Any) -> int:
    from sqlalchemy import func, select

    from core.storage.models import InboxRow

    async with tidings.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(InboxRow)) or 0)


async def main(events: int, concurrencies: list[int], rounds: int) -> None:
    from bot.app import App

    folder = Path(tempfile.mkdtemp(prefix="tidings-bench-slack-"))
    settings = load_settings(
        None,
        database={"url": f"sqlite+aiosqlite:///{folder}/bench.db"},
        email={"enabled": False},
        web={"port": 0},
        slack={"enabled": True, "bot_token": TOKEN, "signing_secret": SECRET,
               "api_url": "http://127.0.0.1:9/api/"},
    )  # fmt: skip
    baseline, baseline_port = await serve(noop_bolt())
    async with App(settings, channels=[SlackChannel(settings)], background=False) as tidings:
        ours = f"http://127.0.0.1:{tidings.web_port}/slack/events"
        theirs = f"http://127.0.0.1:{baseline_port}/slack/events"
        await run_client(ours, 200, 8, "w1")  # warm up both servers and the database
        await run_client(theirs, 200, 8, "w2")
        print(f"{events} signed events per run, best of {rounds} interleaved runs; SQLite inbox")
        floor = durable_commit_rate(folder)
        print(f"disk floor: raw sqlite3 one-commit-per-row (WAL, synchronous=FULL) {floor:.0f}/s")
        for concurrency in concurrencies:
            mine_runs, noop_runs = [], []
            for round_ in range(rounds):
                before = await inbox_rows(tidings)
                tag = f"c{concurrency}r{round_}"
                mine_runs.append(await run_client(ours, events, concurrency, tag))
                stored = await inbox_rows(tidings) - before
                noop_runs.append(await run_client(theirs, events, concurrency, "n" + tag))
                failures = mine_runs[-1]["failures"] + noop_runs[-1]["failures"]
                if stored != events or failures:
                    print(f"  WARNING: stored {stored}/{events}, {failures} failed requests")
            # The machine is shared: take each side's best run, measured in the same minutes.
            mine = max(mine_runs, key=lambda run: run["rate"])
            noop = max(noop_runs, key=lambda run: run["rate"])
            print(
                f"concurrency {concurrency:>3}: tidings {mine['rate']:6.0f} events/s stored "
                f"(ack p50 {mine['p50_ms']:.1f} ms, p99 {mine['p99_ms']:.1f} ms) | no-op bolt "
                f"{noop['rate']:6.0f} events/s (p50 {noop['p50_ms']:.1f} ms, p99 "
                f"{noop['p99_ms']:.1f} ms) | ratio {mine['rate'] / noop['rate']:.2f}x"
            )
    await baseline.cleanup()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        url, count, parallel, run = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        print(json.dumps(asyncio.run(load(url, count, parallel, run))))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.events, options.concurrency, options.rounds))

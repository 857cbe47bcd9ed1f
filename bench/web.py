"""Page benchmark: GET /status and /t/{token} at 64 concurrent connections vs a hello-world handler.

Run by hand: `.venv/bin/python -m bench.web [--seconds 5] [--connections 64]`.
Both servers run in this process on the same event loop; the load comes from a separate
process (aiohttp client, one connection per worker), so the servers do not share their core
with the client. The target is /status at no less than half the hello-world rate measured in
the same run. The desk has three open incidents with updates and two lately resolved ones,
and one ticket with a dozen public events whose page (/t/{token}, and its JSON the open page
polls) is read from the database on every hit: it is one customer's, not cached.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import ClientSession, TCPConnector, web
from sqlalchemy.ext.asyncio import AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import App
from core.channel import Contact, InboundMessage, ReplyTarget
from core.config import load_settings
from core.intake.opening import NewTicket, open_tickets
from core.pages.tokens import page_links


async def _load(url: str, seconds: float, connections: int) -> None:
    """The client side (run in its own process): print requests per second and errors."""
    done = errors = 0
    deadline = time.perf_counter() + seconds
    connector = TCPConnector(limit=connections, force_close=False)
    async with ClientSession(connector=connector) as http:

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                async with http.get(url) as answer:
                    await answer.read()
                    if answer.status == 200:
                        done += 1
                    else:
                        errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    print(f"{done / elapsed:.1f} {errors}")


def _measure(url: str, seconds: float, connections: int) -> float:
    """Requests per second at `url` from a separate client process."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.web", "--client", url, "--seconds", str(seconds),
         "--connections", str(connections)],
        capture_output=True, text=True, check=True, timeout=seconds * 4 + 60,
    ).stdout.split()  # fmt: skip
    rate, errors = float(out[0]), int(out[1])
    if errors:
        raise SystemExit(f"{url}: {errors} requests did not answer 200")
    return rate


async def _hello_server() -> tuple[web.AppRunner, int]:
    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="Hello, world")

    hello_app = web.Application()
    hello_app.router.add_get("/", hello)
    runner = web.AppRunner(hello_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1])


async def _seed(app: App) -> None:
    words = [
        "incident Mail sync stopped", "resolve INC-1 Restored by the provider.",
        "incident Exports slow", "resolve INC-2 Queue drained.",
        "incident Card payments fail at checkout", "reply INC-3 The processor rejects a third.",
        "eta INC-3 in 4h", "reply INC-3 monitoring: A fix is deployed.",
        "incident Login page times out", "reply INC-4 A proxy is overloaded.",
        "incident Search results are stale", 'wait INC-5 "the index vendor" Rebuild running.',
    ]  # fmt: skip
    for line in words:
        reply = await app.desk.run_as("alice", line)
        assert reply.ok, reply.text


async def _ticket(app: App) -> str:
    """One ticket with a public story; the path of its page."""
    message = InboundMessage(
        channel="bench", external_id="bench-1", sender=Contact("bench", "ann", "Ann"),
        reply_target=ReplyTarget("bench", "ann"), text="The VPN drops every 5 minutes.",
        subject="VPN drops",
    )  # fmt: skip

    async def work(session: AsyncSession) -> list[int]:
        return await open_tickets(app.ctx, session, [NewTicket(message)])

    [ticket_id] = await app.db.write(work)
    for n in range(10):
        reply = await app.desk.run_as("alice", f"reply T-{ticket_id} Update {n}: still on it.")
        assert reply.ok, reply.text
    links = page_links(app.settings)
    assert links is not None
    return f"/t/{links.token(ticket_id)}"


async def bench(seconds: float, connections: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            None, database={"url": f"sqlite+aiosqlite:///{folder}/bench.db"},
            email={"enabled": False},
            web={"host": "127.0.0.1", "port": 0, "public_url": "http://127.0.0.1",
                 "secret": "bench only"},
            agents={"alice": {"email": "alice@example.com"}},
        )  # fmt: skip
        async with App(settings, channels=[], background=False) as app:
            await _seed(app)
            page = await _ticket(app)
            runner, hello_port = await _hello_server()
            try:
                urls = {
                    "hello-world handler (baseline)": f"http://127.0.0.1:{hello_port}/",
                    "GET /status": f"http://127.0.0.1:{app.web_port}/status",
                    "GET /status.json": f"http://127.0.0.1:{app.web_port}/status.json",
                    "GET /t/{token}": f"http://127.0.0.1:{app.web_port}{page}",
                    "GET /t/{token}.json": f"http://127.0.0.1:{app.web_port}{page}.json",
                }
                rates: dict[str, list[float]] = {name: [] for name in urls}
                for _ in range(2):  # alternate, so a noisy neighbour hits both alike
                    for name, url in urls.items():
                        rates[name].append(await asyncio.to_thread(
                            _measure, url, seconds, connections))  # fmt: skip
            finally:
                await runner.cleanup()
    base = max(rates["hello-world handler (baseline)"])
    print(f"{connections} concurrent connections, {seconds:g} s per run, best of 2 runs:")
    for name, found in rates.items():
        best = max(found)
        print(f"  {name:32} {best:9.0f} req/s   {best / base:5.2f}x baseline")
    ratio = max(rates["GET /status"]) / base
    print(f"target: /status >= 0.5x baseline: {'met' if ratio >= 0.5 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(_load(args.client, args.seconds, args.connections))
    else:
        asyncio.run(bench(args.seconds, args.connections))


if __name__ == "__main__":
    main()

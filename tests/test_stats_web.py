"""GET /stats for agents only, /metrics in Prometheus text, /healthz part by part."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, func, select

from bot.app import App
from core import metrics
from core.clock import FakeClock
from core.stats.link import stats_link
from core.storage.models import Ticket
from tests.fake_channel import FakeChannel

TOKEN = "admin-token-for-tests"


@pytest.fixture
async def web_app(settings_factory: Any, clock: FakeClock) -> Any:
    fake = FakeChannel()
    settings = settings_factory(web={"port": 0, "admin_token": TOKEN})
    async with App(settings, clock=clock, channels=[fake], background=False) as app:
        app.fake = fake  # type: ignore[attr-defined]
        async with aiohttp.ClientSession() as http:
            app.http = http  # type: ignore[attr-defined]
            yield app


def local(app: Any, link: str) -> str:
    """The signed link as the agent got it, pointed at the test server's port."""
    parts = urlsplit(link)
    return f"http://127.0.0.1:{app.web_port}{parts.path}?{parts.query}"


async def get(app: Any, url: str, **headers: str) -> tuple[int, str, Any]:
    if url.startswith("/"):
        url = f"http://127.0.0.1:{app.web_port}{url}"
    async with app.http.get(url, headers=headers) as response:
        return response.status, await response.text(), response.headers


async def ticket_count(app: Any) -> int:
    async with app.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Ticket)) or 0)


async def test_stats_page_is_refused_without_the_link_or_the_token(web_app: Any) -> None:
    await web_app.fake.say("carol", "Printer on fire", message_id="m1")
    await web_app.drain()
    before = await ticket_count(web_app)

    status, body, headers = await get(web_app, "/stats")
    assert status == 401 and "open the link the stats command gives you" in body
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, body, _ = await get(web_app, "/stats", Authorization="Bearer guessed")
    assert status == 401 and "not the admin token" in body
    status, body, _ = await get(web_app, "/stats", Authorization=f"Basic {TOKEN}")
    assert status == 401
    status, body, _ = await get(web_app, "/stats", Authorization="Bearer t\u00e9")
    assert status == 401 and "not the admin token" in body, "not a 500 on a non-ASCII token"
    status, body, _ = await get(web_app, "/stats?expires=99999999999&sig=%C3%A9")
    assert status == 401 and "not valid" in body

    link = local(web_app, stats_link(web_app.settings, web_app.ctx.now()))
    forged = (
        link.replace("sig=", "sig=0") if "sig=0" not in link else link.replace("sig=0", "sig=1")
    )
    status, body, _ = await get(web_app, forged)
    assert status == 401 and "not valid" in body
    stretched = link.replace("expires=", "expires=9")
    status, body, _ = await get(web_app, stretched)
    assert status == 401 and "not valid" in body, "the expiry is signed too"
    status, body, _ = await get(web_app, link + "&since=400d")
    assert status == 401, "the period of a link is signed too"
    assert await ticket_count(web_app) == before, "a refusal changes nothing"


async def test_a_signed_link_opens_the_page_for_an_hour(web_app: Any, clock: FakeClock) -> None:
    await web_app.fake.say("carol", "Printer on fire", message_id="m1")
    await web_app.drain()
    link = local(web_app, stats_link(web_app.settings, clock.now(), "7d"))
    status, body, headers = await get(web_app, link)
    assert status == 200 and "How the help desk is doing" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
    assert '<span class="figure" id="opened">1</span>' in body
    assert "http" not in body.split("<body>")[1].replace("http-equiv", ""), "nothing off-site"

    clock.advance(timedelta(minutes=61))
    status, body, _ = await get(web_app, link)
    assert status == 401 and "expired" in body


async def test_the_admin_token_opens_the_page_and_bad_periods_are_named(web_app: Any) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, body, _ = await get(web_app, "/stats?since=2w", **auth)
    assert status == 200 and "<canvas" in body
    status, body, _ = await get(web_app, "/stats?since=banana", **auth)
    assert status == 400 and "'banana'" in body
    status, body, _ = await get(web_app, "/stats-assets/vendor/chart.umd.min.js")
    assert status == 200 and "Chart.js v4" in body


async def test_metrics_parse_and_count(web_app: Any, clock: FakeClock) -> None:
    for number in range(3):
        await web_app.fake.say(f"user{number}", "VPN down", message_id=f"m{number}")
    await web_app.drain()
    await web_app.fake.say("late", "Also broken", message_id="m9")  # stored, not processed
    metrics.inbound("fake", "accepted")
    metrics.delivery("fake", "sent")
    metrics.automatic("ack")
    metrics.promise_settled("next_update", kept=True, count=2)
    metrics.promise_settled("eta", kept=False)
    metrics.promise_settled("next_update", kept=None)
    metrics.ack_sent("fake", 0.3)
    clock.advance(timedelta(days=2))  # every owed update is now overdue

    status, body, headers = await get(web_app, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {family.name: family for family in text_string_to_metric_families(body)}
    assert all(name.startswith("tidings_") for name in families)

    def value(name: str, **labels: str) -> float:
        return sum(
            sample.value
            for sample in families[name].samples
            if sample.name in (name, f"{name}_total", f"{name}_count")
            and all(sample.labels.get(k) == v for k, v in labels.items())
        )

    assert value("tidings_database_up") == 1
    assert value("tidings_open_tickets", status="new") == 3
    assert value("tidings_open_tickets", status="waiting") == 0
    assert value("tidings_inbox_backlog") == 1
    assert value("tidings_outbox_backlog") == 0 and value("tidings_dead_letters") == 0
    assert value("tidings_inbound_messages", channel="fake", outcome="accepted") >= 1
    assert value("tidings_deliveries", channel="fake", outcome="sent") >= 1
    assert value("tidings_automatic_messages", kind="ack") >= 1
    assert value("tidings_promises_settled", kind="next_update", result="kept") >= 2
    assert value("tidings_promises_settled", kind="eta", result="broken") >= 1
    assert value("tidings_ack_seconds", channel="fake") >= 1
    assert value("tidings_promise_loop_lag_seconds") == 86400, "due a day ago, 2 days after"


async def test_a_scrape_reads_indexes_only(web_app: Any) -> None:
    """No full table scan per scrape: every statement's SQLite plan searches an index."""
    if not web_app.db.is_sqlite:
        pytest.skip("the query plans checked are SQLite's")
    for number in range(5):
        await web_app.fake.say(f"user{number}", "VPN down", message_id=f"m{number}")
    await web_app.drain()
    statements: list[tuple[str, Any]] = []

    def seen(_c: Any, _cur: Any, statement: str, parameters: Any, _x: Any, _y: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    engine = web_app.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        status, _, _ = await get(web_app, "/metrics")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert status == 200 and len(statements) >= 5
    async with web_app.db.engine.connect() as connection:
        for statement, parameters in statements:
            plan = (await connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters
            )).all()  # fmt: skip
            details = [row[-1] for row in plan]
            # SEARCH reads one index range; SCAN would read a whole table or index.
            assert not any(step.startswith("SCAN") for step in details), details
            assert any("INDEX" in step for step in details), details


async def test_healthz_is_degraded_not_down_when_a_platform_is_out(
    settings_factory: Any, clock: FakeClock
) -> None:
    fake = FakeChannel()
    async with App(settings_factory(), clock=clock, channels=[fake]) as app:
        url = f"http://127.0.0.1:{app.web_port}/healthz"
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                body = await response.json()
                assert response.status == 200 and body["status"] == "ok"
                assert body["parts"] == {"database": "ok", "loop:inbox": "ok",
                    "loop:delivery": "ok", "loop:promises": "ok", "fake": "ok"}  # fmt: skip
            await fake.stop()  # the platform is unreachable
            async with http.get(url) as response:
                body = await response.json()
                assert response.status == 200 and body["status"] == "degraded"
                assert body["problems"] == {"fake": "not started"}
            [inbox] = [task for task in app.loops() if task.get_name() == "tidings-inbox"]
            inbox.cancel()  # an internal loop stops: Tidings itself cannot work
            await asyncio.gather(inbox, return_exceptions=True)
            async with http.get(url) as response:
                body = await response.json()
                assert response.status == 503 and body["status"] == "unhealthy"
                assert body["problems"]["loop:inbox"] == "stopped (cancelled)"
                assert body["parts"]["database"] == "ok"


async def test_a_scrape_without_the_database_still_serves_the_counters(clock: FakeClock) -> None:
    from core.storage.db import Database

    nowhere = Database("postgresql+asyncpg://tidings@127.0.0.1:1/none")  # nothing listens there
    try:
        body = (await metrics.scrape(nowhere, clock.now())).decode()
    finally:
        await nowhere.dispose()
    families = {family.name: family for family in text_string_to_metric_families(body)}
    assert families["tidings_database_up"].samples[0].value == 0
    assert "tidings_inbound_messages" in families and "tidings_open_tickets" not in families

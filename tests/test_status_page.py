"""GET /status and /status.json over real HTTP: what the public sees, what it never sees, and
the headers that let browsers and proxies carry an outage's load."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aiohttp
from multidict import CIMultiDict
from sqlalchemy import event

from core.clock import FakeClock
from tests.fake_channel import FakeChannel

PUBLIC_KEYS = ["ref", "title", "state", "service", "started_at", "eta", "next_update_due",
               "resolved_at", "updates"]  # fmt: skip


async def _agent(app: Any, words: str) -> None:
    reply = await app.desk.run_as("alice", words)
    assert reply.ok, reply.text


async def _get(app: Any, path: str, **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
    url = f"http://127.0.0.1:{app.web_port}{path}"
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as answer:
        return answer.status, CIMultiDict(answer.headers), await answer.read()


async def test_no_incidents_says_no_known_problems(desk_app: Any) -> None:
    status, headers, body = await _get(desk_app, "/status")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "No known problems" in body.decode()
    assert "Nothing was resolved in the last 14 days." in body.decode()
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "style-src 'sha256-" in policy and "frame-ancestors 'none'" in policy
    assert headers["Cache-Control"].startswith("public, max-age=")
    assert headers["ETag"].startswith('"') and headers["Last-Modified"].endswith("GMT")
    status, headers, body = await _get(desk_app, "/status.json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {"incidents": [], "recent": []}


async def test_the_page_shows_incidents_and_never_a_ticket_customer_or_note(
    desk_app: Any, clock: FakeClock
) -> None:
    fake: FakeChannel = desk_app.fake
    await fake.say("carol.secret", "Payroll export wrong for ACME-4471", message_id="m1",
                   name="Carol Private")  # fmt: skip
    await desk_app.drain()
    await _agent(desk_app, "incident Old outage")
    await _agent(desk_app, "resolve INC-1 Done.")
    clock.advance(timedelta(days=15))  # INC-1 is now older than the page's 14 days
    await _agent(desk_app, "incident Payroll <b>exports</b> & <script>alert(1)</script> [Payroll]")
    await _agent(desk_app, "link T-1 INC-2")
    await _agent(desk_app, "note T-1 internal-only: customer is on the legacy plan")
    clock.advance(timedelta(minutes=20))
    await _agent(desk_app, "reply INC-2 The export job used the wrong tax table.")
    await _agent(desk_app, "eta INC-2 in 3h")
    await _agent(desk_app, "incident Mail delayed")
    await _agent(desk_app, "resolve INC-3 Queues drained.")

    status, _, raw = await _get(desk_app, "/status.json")
    data = json.loads(raw)
    assert status == 200 and sorted(data) == ["incidents", "recent"]
    [payroll] = data["incidents"]
    [mail] = data["recent"]
    assert sorted(payroll) == sorted(PUBLIC_KEYS) and sorted(mail) == sorted(PUBLIC_KEYS)
    assert payroll["ref"] == "INC-2" and payroll["state"] == "identified"
    assert payroll["service"] == "Payroll" and mail["service"] is None
    assert payroll["eta"] == "2026-12-08T12:20:00Z"
    assert [u["state"] for u in payroll["updates"]] == ["identified"] * 2 + ["investigating"]
    assert payroll["updates"][1]["text"] == "The export job used the wrong tax table."
    assert mail["ref"] == "INC-3" and mail["resolved_at"] is not None

    _, _, page = await _get(desk_app, "/status")
    html = page.decode()
    assert "1 known problem right now" in html and "No known problems" not in html
    assert "Payroll &lt;b&gt;exports&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "The export job used the wrong tax table." in html
    assert "<dt>Affects</dt><dd>Payroll</dd>" in html
    assert "Next update by" in html and "Mail delayed" in html and "Old outage" not in html
    for secret in ("carol", "Carol", "ACME-4471", "T-1", "internal", "alice", "legacy plan"):
        assert secret not in html and secret not in raw.decode(), secret


async def test_conditional_requests_get_304_until_the_incident_changes(
    desk_app: Any, clock: FakeClock
) -> None:
    await _agent(desk_app, "incident Slow dashboards")
    for path in ("/status", "/status.json"):
        status, headers, _ = await _get(desk_app, path)
        etag, modified = headers["ETag"], headers["Last-Modified"]
        status, again, body = await _get(desk_app, path, **{"If-None-Match": etag})
        assert (status, body, again["ETag"]) == (304, b"", etag)
        assert again["Cache-Control"] == headers["Cache-Control"]
        status, _, body = await _get(desk_app, path, **{"If-Modified-Since": modified})
        assert (status, body) == (304, b"")
        status, _, _ = await _get(desk_app, path, **{"If-None-Match": '"something-else"'})
        assert status == 200
        status, _, _ = await _get(desk_app, path, **{"If-Modified-Since": "not a date"})
        assert status == 200

    _, before, _ = await _get(desk_app, "/status")
    clock.advance(timedelta(minutes=5))
    await _agent(desk_app, "reply INC-1 monitoring: A cache node was replaced.")
    status, after, body = await _get(desk_app, "/status", **{"If-None-Match": before["ETag"]})
    assert status == 200 and after["ETag"] != before["ETag"]
    assert "A cache node was replaced." in body.decode()
    assert after["Last-Modified"] != before["Last-Modified"]


async def test_a_burst_of_hits_reads_the_database_once(desk_app: Any) -> None:
    await _agent(desk_app, "incident Search is slow")
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "incident" in statement:
            statements.append(statement)

    engine = desk_app.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        url = f"http://127.0.0.1:{desk_app.web_port}/status"
        async with aiohttp.ClientSession() as http:
            for _ in range(30):
                async with http.get(url) as answer:
                    assert answer.status == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # One rebuild reads the incidents and their updates; the page may be rebuilt once more if
    # the burst outlasts the cache's short lifetime on a slow machine.
    assert 2 <= len(statements) <= 4


async def test_an_incident_leaving_the_14_days_is_a_change_not_a_304(
    desk_app: Any, clock: FakeClock
) -> None:
    from email.utils import parsedate_to_datetime

    from core.incidents.store import mark_changed

    await _agent(desk_app, "incident Search slow")  # stays open, last changed before INC-2
    clock.advance(timedelta(minutes=1))
    await _agent(desk_app, "incident Mail delayed")
    await _agent(desk_app, "resolve INC-2 Queues drained.")
    _, first, body = await _get(desk_app, "/status")
    assert "Mail delayed" in body.decode()
    clock.advance(timedelta(days=15))
    mark_changed()  # as any change in this process would; else the cache's lifetime ends it
    status, later, body = await _get(
        desk_app, "/status", **{"If-Modified-Since": first["Last-Modified"]}
    )
    assert status == 200 and "Mail delayed" not in body.decode()
    assert "Search slow" in body.decode()
    assert later["ETag"] != first["ETag"]
    assert parsedate_to_datetime(later["Last-Modified"]) > parsedate_to_datetime(
        first["Last-Modified"]
    )


async def test_the_last_page_stays_up_when_the_database_cannot_be_read(desk_app: Any) -> None:
    from sqlalchemy import text

    from core.incidents.store import mark_changed

    await _agent(desk_app, "incident Database cluster degraded")
    status, first, body = await _get(desk_app, "/status")
    assert status == 200 and "Database cluster degraded" in body.decode()

    async with desk_app.db.engine.begin() as connection:  # the incident tables are gone
        for table in ("incident_links", "incident_updates", "incidents"):
            await connection.execute(text(f"DROP TABLE {table}"))
    mark_changed()  # so the next hit tries the database again
    for path, expected in (("/status", first["ETag"]), ("/status", first["ETag"])):
        status, again, body = await _get(desk_app, path)
        assert status == 200 and again["ETag"] == expected
        assert "Database cluster degraded" in body.decode()
    status, _, _ = await _get(desk_app, "/status.json")
    assert status == 200

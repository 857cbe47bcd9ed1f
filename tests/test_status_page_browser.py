"""The status page in a real headless Chromium, on a desktop and a 375 px phone: nothing refused
by its CSP, nothing wider than the screen, the newest update first.

Uses the system's Chromium (Debian package `chromium`) through Playwright's executable_path;
screenshots are copied to tests/artifacts/ for people to look at."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import FakeClock

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium package at /usr/bin/chromium"
)


async def _outage(app: Any, clock: FakeClock) -> None:
    """One open incident with three updates, one resolved yesterday."""
    steps = [
        "incident Mail sync stopped",
        "resolve INC-1 The mail provider restored sync.",
        "incident Card payments fail at checkout for some customers of the Europe region",
        "reply INC-2 Our card processor rejects about a third of payments; we are on it.",
        "eta INC-2 in 4h",
        "reply INC-2 monitoring: A fix is deployed, payments are going through again.",
    ]
    for words in steps:
        reply = await app.desk.run_as("alice", words)
        assert reply.ok, reply.text
        clock.advance(timedelta(minutes=25))


@pytest.mark.parametrize("width", [1280, 375])
async def test_the_status_page_reads_well_on_desktop_and_phone(
    desk_app: Any, clock: FakeClock, tmp_path: Path, width: int
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    await _outage(desk_app, clock)
    url = f"http://127.0.0.1:{desk_app.web_port}/status"
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = await browser.new_page(viewport={"width": width, "height": 800})
            problems: list[str] = []
            page.on("console", lambda message: problems.append(message.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
            response = await page.goto(url)
            assert response is not None and response.status == 200
            found = await page.evaluate(
                """() => ({
                    banner: document.getElementById('banner').textContent.trim(),
                    colour: getComputedStyle(document.getElementById('banner')).backgroundColor,
                    wide: document.documentElement.scrollWidth,
                    open: [...document.querySelectorAll('section')[0]
                        .querySelectorAll('article')].map(a => a.id),
                    updates: [...document.querySelectorAll('#INC-2 li strong')]
                        .map(s => s.textContent),
                    recent: [...document.querySelectorAll('section')[1]
                        .querySelectorAll('article')].map(a => a.id),
                })"""
            )
            shot = tmp_path / f"status-{width}.png"
            await page.screenshot(path=str(shot), full_page=True)
        finally:
            await browser.close()
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)
    assert problems == [], "no console message: nothing refused by the page's CSP"
    assert found["banner"] == "1 known problem right now"
    assert found["colour"] != "rgba(0, 0, 0, 0)", "the inline style was allowed by its hash"
    assert found["wide"] <= width, "nothing wider than the screen"
    assert found["open"] == ["INC-2"] and found["recent"] == ["INC-1"]
    assert found["updates"] == ["Monitoring", "Identified", "Identified", "Investigating"]

"""The statistics page in a real headless Chromium: charts drawn, nothing refused by the CSP.

Uses the system's Chromium (Debian package `chromium`) through Playwright's executable_path;
the screenshot is kept under the test's tmp dir and copied to tests/artifacts/ for people.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.app import App
from core.clock import FakeClock
from core.stats.link import stats_link
from tests.conftest import make_settings
from tests.fake_channel import FakeChannel
from tests.stats_seed import plan_desk, write_desk

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CHARTS = [
    "chart-opened",
    "chart-first-response",
    "chart-resolution",
    "chart-promises",
    "chart-csat",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium package at /usr/bin/chromium"
)


async def test_the_page_draws_every_chart_in_chromium(database_url: str, tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    settings = make_settings(database_url, tmp_path, web={"port": 0, "secret": "page-test"})
    async with App(
        settings, clock=FakeClock(NOW), channels=[FakeChannel()], background=False
    ) as app:
        await write_desk(app.db, plan_desk(NOW))
        link = urlsplit(stats_link(settings, NOW, "30d"))
        url = f"http://127.0.0.1:{app.web_port}{link.path}?{link.query}"
        async with playwright_api.async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM))
            try:
                drawn = await _visit(browser, url, tmp_path)
            finally:
                await browser.close()
    problems, charts, opened = drawn
    assert problems == [], "the page loads with no error and nothing refused by its CSP"
    assert opened == "93", "the headline figure of the seeded month"
    for chart in CHARTS:
        assert charts[chart]["instance"], f"{chart} was drawn by Chart.js"
        assert charts[chart]["points"] > 0 and charts[chart]["height"] > 100, chart
    assert charts["chart-opened"]["datasets"] == ["discord", "email", "slack"]


async def _visit(browser: Any, url: str, tmp_path: Path) -> tuple[list[str], dict[str, Any], str]:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    page.on("response", lambda answer: answer.status >= 400 and problems.append(answer.url))
    response = await page.goto(url)
    assert response is not None and response.status == 200
    await page.wait_for_selector("body[data-charts=drawn]", timeout=10_000)
    charts = await page.evaluate(
        """ids => Object.fromEntries(ids.map(id => {
            const canvas = document.getElementById(id);
            const chart = Chart.getChart(canvas);
            return [id, {
                instance: Boolean(chart),
                height: canvas.getBoundingClientRect().height,
                points: chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : 0,
                datasets: chart ? chart.data.datasets.map(d => d.label) : [],
            }];
        }))""",
        CHARTS,
    )
    opened = await page.text_content("#opened")
    shot = tmp_path / "stats-page.png"
    await page.screenshot(path=str(shot), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "stats-page.png")
    return problems, charts, (opened or "").strip()

"""Ann rates her resolved ticket in a real headless Chromium: she follows the rating link in
the resolution mail, picks a score in the labelled form, adds a comment and sends it; the page
thanks her and the rating is on the ticket. While the page is open on an unresolved ticket,
the form appears by itself once the ticket is resolved.

Uses the system's Chromium (Debian package `chromium`) through Playwright's executable_path;
the screenshot is copied to tests/artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import bot.ticket_page
from tests.test_email_app import mail
from tests.test_ticket_page import LINK, PageDesk, desk  # noqa: F401  (the fixture)
from tests.test_ticket_page_browser import ARTIFACTS, CHROMIUM, _failed
from tests.test_ticket_page_rating import RATING_LINK

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium package at /usr/bin/chromium"
)
SHOWN = """() => {
    const thanks = document.getElementById('rated');
    return {form: !document.getElementById('rate').hidden,
            thanks: thanks.hidden ? '' : thanks.textContent};
}"""


async def test_ann_rates_her_ticket_from_the_link_in_the_resolution_mail(
    desk: PageDesk,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    monkeypatch.setattr(bot.ticket_page, "POLL_SECONDS", 1)
    await desk.customer_mails(mail("Printer jammed", "Floor 2 printer is jammed."))
    [ack] = await desk.relay.wait_for(1)
    page_link = LINK.search(ack.text)
    assert page_link, ack.text

    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("console", lambda message: problems.append(message.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("requestfailed", lambda request: _failed(problems, request))
            await page.goto(desk.local(page_link.group(1)))
            before = await page.evaluate(SHOWN)

            await desk.agent("resolve T-1 Cleared the paper tray.")
            await page.wait_for_function(f"() => ({SHOWN})().form", timeout=10_000)
            _ack, resolution = await desk.relay.wait_for(2)
            rating_link = RATING_LINK.search(" ".join(resolution.text.split()))
            assert rating_link, resolution.text

            # She clicks the link in her mail client: the page opens in a new tab, at the form.
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: problems.append(message.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            response = await page.goto(desk.local(rating_link.group(1) + "#rate"))
            assert response is not None and response.status == 200
            at_form = await page.evaluate("() => location.hash")
            await page.get_by_label("4", exact=True).check()
            await page.get_by_label("Anything you want to add (optional)").fill(
                "Quick fix, thank you <b>so</b> much"
            )
            shot = await _rate_and_shoot(page, tmp_path)
            after = await page.evaluate(SHOWN)
        finally:
            await browser.close()
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)

    assert problems == [], "no console message: nothing refused by the page's CSP"
    assert before == {"form": False, "thanks": ""}, "no form before the ticket is resolved"
    assert at_form == "#rate"
    assert after == {"form": False, "thanks": "Thank you for your rating: 4 out of 5."}
    shown = await desk.app.show_ticket(1)
    assert shown is not None and shown["status"] == "resolved"
    assert [e["text"] for e in shown["events"] if e["kind"] == "csat"] == [
        "4 Quick fix, thank you <b>so</b> much"
    ]


async def _rate_and_shoot(page: Any, tmp_path: Path) -> Path:
    """Send the rating form and screenshot the page that thanks for it."""
    shot = tmp_path / "ticket-rating.png"
    await page.screenshot(path=str(tmp_path / "ticket-rating-form.png"), full_page=True)
    await page.get_by_role("button", name="Send rating").click()
    await page.wait_for_url("**?rated=1#rate")
    await page.screenshot(path=str(shot), full_page=True)
    shutil.copy(tmp_path / "ticket-rating-form.png", ARTIFACTS / "ticket-rating-form.png")
    return shot

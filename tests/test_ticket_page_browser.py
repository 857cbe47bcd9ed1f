"""Ann's ticket page in a real headless Chromium, as she uses it: she opens the link from the
mail she got, sends a message with the form, and sees it and the agent's answer appear without
reloading; an internal note and the <script> she once pasted never run or show.

Uses the system's Chromium (Debian package `chromium`) through Playwright's executable_path;
screenshots (desktop and a 375 px phone) are copied to tests/artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import bot.ticket_page
from tests.test_email_app import mail
from tests.test_ticket_page import LINK, PageDesk, desk  # noqa: F401  (the fixture)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium package at /usr/bin/chromium"
)
SHOWN = "() => document.getElementById('timeline').textContent"


def _failed(problems: list[str], request: Any) -> None:
    # A poll still in flight when the form is sent is cancelled by the navigation: expected.
    if request.url.endswith(".json") and request.failure == "net::ERR_ABORTED":
        return
    problems.append(f"failed: {request.url} ({request.failure})")


@pytest.mark.parametrize("width", [1280, 375])
async def test_ann_follows_her_ticket_and_writes_from_its_page(
    desk: PageDesk,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    width: int,
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    monkeypatch.setattr(bot.ticket_page, "POLL_SECONDS", 1)  # the page asks every second
    await desk.customer_mails(
        mail(
            "Invoices PDF export fails",
            "Exporting any invoice as PDF shows an error.\n"
            "<script>document.title = 'owned'</script>",
        )
    )
    await desk.app.desk.run_as("alice", "note T-1 Ann's account is flagged for churn risk")
    await desk.app.desk.run_as("alice", "wait T-1 the PDF library vendor's fix")
    await desk.app.drain()
    [ack, *_] = await desk.relay.wait_for(1)
    found = LINK.search(ack.text)
    assert found, "the acknowledgement carries the page's link"
    url = desk.local(found.group(1))

    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = await browser.new_page(viewport={"width": width, "height": 900})
            problems: list[str] = []
            page.on("console", lambda message: problems.append(message.text))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("requestfailed", lambda request: _failed(problems, request))
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: dialogs.append(dialog.message))
            response = await page.goto(url)
            assert response is not None and response.status == 200
            before = await page.evaluate(
                """() => [document.getElementById('status').textContent,
                          document.getElementById('waiting_on').textContent]"""
            )

            await page.get_by_label("Your message to the support team").fill(
                "Only invoices from November fail; October ones export fine."
            )
            await page.get_by_role("button", name="Send message").click()
            await page.wait_for_url("**?sent=1")
            await desk.app.drain()  # the inbox takes the message in
            await page.wait_for_function(
                f"() => ({SHOWN})().includes('Only invoices from November fail')", timeout=10_000
            )
            await desk.app.desk.run_as("alice", "reply T-1 Thanks: that narrows it down a lot.")
            await desk.app.drain()
            await page.wait_for_function(
                f"() => ({SHOWN})().includes('that narrows it down')", timeout=10_000
            )
            found_on_page = await page.evaluate(
                """() => ({
                    title: document.title,
                    text: document.body.innerText,
                    scripts: [...document.scripts].map(s => s.src),
                    wide: document.documentElement.scrollWidth,
                    sent: document.getElementById('sent')?.textContent || '',
                    status: document.getElementById('status').textContent,
                })"""
            )
            shot = tmp_path / f"ticket-{width}.png"
            await page.screenshot(path=str(shot), full_page=True)
        finally:
            await browser.close()
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)

    assert problems == [], "no console message: nothing refused by the page's CSP"
    assert dialogs == [] and found_on_page["title"] != "owned", "the pasted script never ran"
    assert "<script>document.title = 'owned'</script>" in found_on_page["text"], "shown as text"
    assert [src.split("/")[-1] for src in found_on_page["scripts"]] == ["ticket.js"]
    assert "churn risk" not in found_on_page["text"], "internal notes never show"
    assert found_on_page["wide"] <= width, "nothing wider than the screen"
    assert "your message was added" in found_on_page["sent"]
    assert before == ["Waiting on the PDF library vendor's fix", "the PDF library vendor's fix"]
    assert found_on_page["status"] == "Being worked on", "redrawn: the agent's reply ended it"
    sent = desk.relay.messages[-1]
    assert sent.rcpt_tos == ["ann@example.org"], "the answer went to Ann by mail"
    assert "that narrows it down" in sent.text

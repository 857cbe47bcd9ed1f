"""Rating from the ticket page over HTTP: the resolution mail links Ann to the page's rating
form; her rating is recorded like a button press or a rating reply (one per ticket, a low one
alerts the agents), and bad posts are refused with the reason and change nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.app import App
from channels.email import EmailChannel
from core.clock import FakeClock
from core.csat.page import PageRatingError, read_page_rating
from core.csat.rating import Rating
from tests.fake_channel import FakeChannel
from tests.fake_smtp import CaptureSMTP
from tests.test_email_app import SUPPORT, mail
from tests.test_ticket_page import PUBLIC, PageDesk

RATING_LINK = re.compile(re.escape(PUBLIC) + r"(/t/[A-Za-z0-9_-]+)#rate\b")


@pytest.fixture
async def desk(settings_factory: Any, clock: FakeClock) -> AsyncIterator[PageDesk]:
    """Ann writes by email; the agents' triage channel is a (fake) Slack channel."""
    async with CaptureSMTP() as relay:
        settings = settings_factory(
            email={
                "enabled": True, "port": 0, "addresses": [SUPPORT], "from_address": SUPPORT,
                "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": relay.port},
            },
            web={"port": 0, "public_url": PUBLIC, "secret": "a test secret, not a real one"},
            slack={"enabled": True, "triage_channel": "CTRIAGE"},
        )  # fmt: skip
        channel, triage = EmailChannel(settings), FakeChannel("slack")
        async with App(settings, clock=clock, channels=[channel, triage], background=False) as app:
            app.triage = triage  # type: ignore[attr-defined]
            async with aiohttp.ClientSession() as http:
                yield PageDesk(app, channel, relay, http)


async def ann_reports(desk: PageDesk) -> str:
    await desk.customer_mails(mail("Printer jammed", "Floor 2 printer is jammed."))
    [ack] = await desk.relay.wait_for(1)
    found = re.search(re.escape(PUBLIC) + r"(/t/[A-Za-z0-9_-]+)", ack.text)
    assert found, ack.text
    return found.group(1)


async def resolved(desk: PageDesk) -> str:
    """Ann reports, Alice resolves; the page path from the rating link in the resolution mail."""
    await ann_reports(desk)
    await desk.agent("resolve T-1 Cleared the paper tray.")
    _ack, resolution = await desk.relay.wait_for(2)
    text = " ".join(resolution.text.split())
    found = RATING_LINK.search(text)
    assert found, text
    assert (
        "Reply with a number from 1 (poor) to 5 (great), or rate us on your ticket's page:" in text
    )
    return found.group(1)


async def rating_form(desk: PageDesk, path: str) -> tuple[str, dict[str, str]]:
    """The page's HTML and the rating form's hidden fields."""
    async with desk.http.get(desk.local(path)) as answer:
        assert answer.status == 200
        html = await answer.text()
    found = re.search(r'action="(/t/[^"]+/rate)".*?name="nonce" value="([^"]+)".*?'
                      r'name="csrf" value="([^"]+)"', html, re.DOTALL)  # fmt: skip
    assert found, "the page has a rating form"
    return html, {"nonce": found.group(2), "csrf": found.group(3)}


async def ratings(desk: PageDesk) -> list[str]:
    shown = await desk.app.show_ticket(1)
    assert shown is not None
    return [e["text"] for e in shown["events"] if e["kind"] == "csat"]


async def test_ann_rates_from_the_link_in_the_resolution_mail(desk: PageDesk) -> None:
    path = await resolved(desk)
    html, fields = await rating_form(desk, path)
    assert (
        'id="rate"' in html and "<legend>Your rating, from 1 (poor) to 5 (great)</legend>" in html
    )
    assert 'for="comment"' in html and 'id="comment"' in html, "labelled fields"
    assert html.count('type="radio" name="rating"') == 5

    status, where = await desk.post(path + "/rate", {**fields, "rating": "4",
                                                     "comment": "quick, thank you"})  # fmt: skip
    assert (status, where) == (303, path + "?rated=1#rate")
    assert await ratings(desk) == ["4 quick, thank you"]
    shown = await desk.app.show_ticket(1)
    assert shown is not None and shown["status"] == "resolved", "a rating is not a reopen"
    async with desk.http.get(desk.local(path)) as answer:
        after = await answer.text()
    assert "Thank you for your rating: 4 out of 5." in after
    assert re.search(r'<section id="rate"[^>]* hidden', after), "the form is gone once rated"
    await desk.app.drain()
    told = [s.message.text for s in desk.app.triage.sent]  # type: ignore[attr-defined]
    assert not any("Low rating" in text for text in told), "a good rating alerts nobody"


async def test_a_low_rating_alerts_the_agents(desk: PageDesk) -> None:
    path = await resolved(desk)
    _, fields = await rating_form(desk, path)
    assert (await desk.post(path + "/rate", {**fields, "rating": "2"}))[0] == 303
    await desk.app.drain()
    assert await ratings(desk) == ["2"]
    alerts = [s.message.text for s in desk.app.triage.sent  # type: ignore[attr-defined]
              if "Low rating" in s.message.text]  # fmt: skip
    assert len(alerts) == 1 and "gave 2 out of 5" in alerts[0]


async def test_bad_ratings_are_refused_with_the_reason_and_change_nothing(desk: PageDesk) -> None:
    # Five posts: the page's limit of posts a minute (shared with the message form).
    path = await ann_reports(desk)
    _, fields = await rating_form(desk, path)
    unresolved = await desk.post(path + "/rate", {**fields, "rating": "4"})
    assert unresolved == (409, "Your rating was not recorded: T-1 is new; only a resolved "
                               "ticket is rated.\n")  # fmt: skip
    await desk.agent("resolve T-1 Cleared the paper tray.")
    _, fields = await rating_form(desk, path)

    nine = await desk.post(path + "/rate", {**fields, "rating": "9"})
    assert nine == (400, "Your rating was not recorded: a rating is a number from 1 to 5; "
                         "9 is not one.\n")  # fmt: skip
    four = await desk.post(path + "/rate", {**fields, "rating": "four"})
    assert four == (400, "Your rating was not recorded: a rating is a number from 1 to 5.\n")
    wordy = await desk.post(path + "/rate", {**fields, "rating": "3", "comment": "x" * 201})
    assert wordy == (400, "Your rating was not recorded: the comment is too long: at most 200 "
                          "characters.\n")  # fmt: skip
    forged = await desk.post(path + "/rate", {**fields, "csrf": "0" * 64, "rating": "1"})
    assert forged[0] == 403 and "not from your ticket's page" in forged[1]
    assert await ratings(desk) == [], "nothing was recorded"
    shown = await desk.app.show_ticket(1)
    assert shown is not None and shown["status"] == "resolved"


async def test_one_rating_per_ticket(desk: PageDesk) -> None:
    path = await resolved(desk)
    _, fields = await rating_form(desk, path)
    assert (await desk.post(path + "/rate", {**fields, "rating": "5"}))[0] == 303
    again = await desk.post(path + "/rate", {**fields, "rating": "1"})
    assert again == (409, "Your rating was not recorded: T-1 is already rated; one rating per "
                          "ticket.\n")  # fmt: skip
    assert await ratings(desk) == ["5"]


@pytest.mark.parametrize(
    ("rating", "reason"),
    [("", "choose a rating from 1 to 5"), ("four", "a rating is a number from 1 to 5"),
     ("\u0664", "a rating is a number from 1 to 5"), ("-1", "a rating is a number from 1 to 5"),
     ("4.5", "a rating is a number from 1 to 5"), ("9" * 50, "a rating is a number from 1 to 5"),
     ("0", "a rating is a number from 1 to 5; 0 is not one")],
)  # fmt: skip
def test_what_is_not_a_rating(rating: str, reason: str) -> None:
    with pytest.raises(PageRatingError) as refused:
        read_page_rating(rating, "", 5)
    assert str(refused.value) == reason


def test_a_rating_and_its_comment() -> None:
    assert read_page_rating(" 3 ", "  slow,\n but  fixed ", 5) == Rating(3, "slow, but fixed")


async def test_an_unknown_page_cannot_be_rated(desk: PageDesk) -> None:
    path = await resolved(desk)
    _, fields = await rating_form(desk, path)
    status, _ = await desk.post("/t/" + "A" * 32 + "/rate", {**fields, "rating": "5"})
    assert status == 404
    assert await ratings(desk) == []


async def test_without_csat_the_page_has_no_rating_form(
    settings_factory: Any, clock: FakeClock
) -> None:
    async with CaptureSMTP() as relay:
        settings = settings_factory(
            email={
                "enabled": True, "port": 0, "addresses": [SUPPORT], "from_address": SUPPORT,
                "outbound": {"transport": "smtp", "host": "127.0.0.1", "port": relay.port},
            },
            web={"port": 0, "public_url": PUBLIC, "secret": "a test secret, not a real one"},
            csat={"enabled": False},
        )  # fmt: skip
        channel = EmailChannel(settings)
        async with App(settings, clock=clock, channels=[channel], background=False) as app:
            async with aiohttp.ClientSession() as http:
                desk = PageDesk(app, channel, relay, http)
                path = await ann_reports(desk)
                await desk.agent("resolve T-1 Cleared the paper tray.")
                _ack, resolution = await relay.wait_for(2)
                assert "#rate" not in resolution.text and "How did we do" not in resolution.text
                async with http.get(desk.local(path)) as answer:
                    html = await answer.text()
                assert "/rate" not in html and 'id="rate"' not in html
                fields = await desk.form(path)
                status, text = await desk.post(path + "/rate", {**fields, "rating": "5"})
                assert (status, text) == (
                    409, "Your rating was not recorded: this desk does not ask for ratings.\n"
                )  # fmt: skip

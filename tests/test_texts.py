"""Customer texts: every shipped template renders, keeps the tone rules, and can be overridden."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError

from core.texts import SHIPPED, Texts

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
SAMPLE: dict[str, Any] = {
    "ref": "T-7",
    "subject": "Invoices export as empty PDFs",
    "name": "Carol",
    "agent": "alice",
    "assignee": "alice",
    "status": "open",
    "state": "open",
    "text": "We found the cause.",
    "eta": LATER,
    "new_eta": None,
    "missed_eta": NOW,
    "next_update": LATER,
    "waiting_on": "the vendor's patch",
    "reopen_days": 7,
    "due": LATER,
    "minutes": 15,
    "channel": "email",
    "reason": "mailbox full",
    "excerpt": "Status of T-7",
    "now": NOW,
    # An incident's note to a linked ticket (incident_note.j2).
    "joined": True,
    "title": "Card payments failing",
    "incident": "INC-1",
    "incident_state": "identified",  # the incident's own texts in the promise loop
    "count": 3,
    "status_url": "https://desk.example.com/status",
    "url": "https://desk.example.com/t/abc",  # the ticket page link (page_link.j2)
    "csat_scale": 5,
    "scale": 5,
    "rating_url": "",
    "who": "Carol",
    "score": 2,
    "comment": "took three days",
    # An agent's file that could not go to the customer (file_not_sent.j2).
    "files": [("trace.zip", "it is larger than the 10.0 MB limit (48.2 MB)")],
    "sent": True,
    # A customer's follow-up told to agents (customer_follow_up.j2).
    "at": NOW,
    "more": 120,
}
CUSTOMER_FACING = ["ack", "agent_reply", "apology", "eta_set", "reopened", "resolved",
                   "status_update", "waiting", "incident_status_update",
                   "incident_apology"]  # fmt: skip
# Phrases that talk down to, hurry, or blame the customer.
BANNED = re.compile(
    r"be patient|patience|as (?:we|I) (?:already )?(?:said|mentioned)|your fault|"
    r"you should have|unfortunately you|kindly|we apologi[sz]e for any inconvenience",
    re.IGNORECASE,
)


def shipped_names() -> list[str]:
    return sorted(path.stem for path in SHIPPED.glob("*.j2"))


@pytest.mark.parametrize("name", shipped_names())
def test_every_shipped_template_renders_without_banned_phrases(name: str) -> None:
    text = Texts("", "Europe/Berlin").render(name, **SAMPLE)
    assert text and "{{" not in text and "\n\n\n" not in text
    assert not BANNED.search(text), text


@pytest.mark.parametrize("name", CUSTOMER_FACING)
def test_customer_texts_apologise_at_most_once(name: str) -> None:
    text = Texts().render(name, **SAMPLE).lower()
    assert text.count("sorry") + text.count("apolog") <= 1


def test_the_apology_says_what_was_promised_that_it_was_missed_and_what_happens_now() -> None:
    texts = Texts("", "Europe/Berlin")
    text = texts.render("apology", **SAMPLE)
    assert text.splitlines()[0] == (
        "We told you T-7 would be resolved by Mon 23 Nov, 10:00 (Europe/Berlin), and we missed "
        "that. We are sorry."
    )
    assert "alice is still working on it" in text
    assert "by Tue 24 Nov, 16:30 (Europe/Berlin)" in text
    with_new = texts.render("apology", **{**SAMPLE, "new_eta": LATER})
    assert "Our new estimate is Tue 24 Nov, 16:30" in with_new


def test_the_status_update_is_honest_when_there_is_no_news() -> None:
    quiet = {**SAMPLE, "status": "new", "assignee": "", "eta": None}
    text = Texts().render("status_update", **quiet)
    assert "nobody has picked it up yet" in text
    assert "We have no news and no estimate for a fix yet." in text
    assert "Sent automatically" in text
    waiting = Texts().render("status_update", **{**SAMPLE, "status": "waiting"})
    assert "still waiting on the vendor's patch" in waiting


def test_an_operator_folder_overrides_one_template_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "ack.j2").write_text("Got it: {{ ref }}, next by {{ next_update | when }}.")
    texts = Texts(str(tmp_path), "UTC")
    assert texts.render("ack", **SAMPLE) == "Got it: T-7, next by Tue 24 Nov, 15:30 (UTC)."
    assert texts.render("apology", **SAMPLE).startswith("We told you T-7")


def test_a_template_using_an_unknown_variable_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "ack.j2").write_text("Hello {{ customer_nickname }}")
    with pytest.raises(UndefinedError, match="customer_nickname"):
        Texts(str(tmp_path)).render("ack", **SAMPLE)


def test_times_read_like_a_person_says_them() -> None:
    assert Texts("", "America/New_York").when(LATER) == "Tue 24 Nov, 10:30 (America/New_York)"
    assert Texts().when(None) == "not set"


def test_a_fan_out_of_messages_does_not_look_at_the_disk_for_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ack.j2").write_text("Got it: {{ ref }}.")
    texts = Texts(str(tmp_path), "UTC")
    texts.ticker = lambda: 100.0  # the whole fan-out within one second
    looks: list[str] = []
    real_stat, real_scandir = os.stat, os.scandir

    def stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        looks.append(f"stat {path}")
        return real_stat(path, *args, **kwargs)

    def scandir(path: Any) -> Any:
        looks.append(f"list {path}")
        return real_scandir(path)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "scandir", scandir)
    texts.render("status_update", **SAMPLE)
    loaded = len(looks)  # the folder's listing, and finding and reading the template
    for number in range(500):
        assert texts.render("ack", **{**SAMPLE, "ref": f"T-{number}"}) == f"Got it: T-{number}."
        texts.render("status_update", **SAMPLE)
    assert len(looks) - loaded <= 3, looks[loaded : loaded + 10]  # loading ack.j2, nothing more


def test_the_operators_folder_is_read_again_within_a_second_of_a_change(tmp_path: Path) -> None:
    moment = [100.0]
    texts = Texts(str(tmp_path), "UTC")
    texts.ticker = lambda: moment[0]
    assert texts.render("ack", **SAMPLE).startswith("Hello Carol")  # the shipped one
    (tmp_path / "ack.j2").write_text("Got it: {{ ref }}.")  # an override added
    moment[0] += 1.0
    assert texts.render("ack", **SAMPLE) == "Got it: T-7."
    (tmp_path / "ack.j2").write_text("Received: {{ ref }}.")  # edited in place
    os.utime(tmp_path / "ack.j2", ns=(1, 1))  # however coarse the file system's clock
    moment[0] += 1.0
    assert texts.render("ack", **SAMPLE) == "Received: T-7."
    (tmp_path / "ack.j2").unlink()  # removed: the shipped text again
    moment[0] += 1.0
    assert texts.render("ack", **SAMPLE).startswith("Hello Carol")

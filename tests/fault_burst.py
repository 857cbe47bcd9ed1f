"""Customers' mail clients for the fault suite: a burst of new mails and replies, each retried
like a sending MTA until it gets `250`, and the checks of what the desk made of them."""

from __future__ import annotations

import random
import re
import smtplib
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage

from tests.fault_harness import SUPPORT, Holdings, wait_until

TOKEN = re.compile(r"\btok-c\d+-m\d+\b")
TICKET_TAG = re.compile(r"\[T-(\d+)\]")


@dataclass
class Mail:
    """One customer mail; `parent` is the earlier mail it answers (None: a new problem)."""

    token: str
    sender: str
    subject: str
    parent: Mail | None = None
    accepted: bool = False  # got `250` (possibly only on a retry)
    attempts: int = 0

    @property
    def message_id(self) -> str:
        return f"<{self.token}@customers.example>"

    @property
    def opener(self) -> Mail:
        """The mail that opened this one's conversation."""
        return self if self.parent is None else self.parent.opener

    def data(self) -> bytes:
        message = EmailMessage()
        message["From"] = f"Customer {self.sender.split('@')[0]} <{self.sender}>"
        message["To"] = SUPPORT
        message["Subject"] = self.subject
        message["Message-ID"] = self.message_id
        if self.parent is not None:
            message["In-Reply-To"] = self.parent.message_id
            message["References"] = f"{self.opener.message_id} {self.parent.message_id}"
        message.set_content(f"Report {self.token}: the issue described in the subject.\n")
        return bytes(message)


def conversations(rng: random.Random, client: int, count: int, reply_share: float) -> list[Mail]:
    """`count` mails of one client: new problems from a few customers, and replies to them."""
    mails: list[Mail] = []
    for n in range(count):
        token = f"tok-c{client}-m{n:03d}"
        openers = [mail for mail in mails if mail.parent is None]
        if openers and rng.random() < reply_share:
            parent = rng.choice([m for m in mails if m.opener in openers])
            subject = f"Re: {parent.opener.subject}"
            mails.append(Mail(token, parent.sender, subject, parent))
            continue
        sender = f"c{client}u{rng.randrange(4)}@customers.example"
        mails.append(Mail(token, sender, f"Problem {token} on floor {rng.randrange(1, 9)}"))
    return mails


class Progress:
    """How many mails got `250`, across the clients' threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accepted = 0

    def add(self) -> None:
        with self._lock:
            self._accepted += 1

    @property
    def accepted(self) -> int:
        with self._lock:
            return self._accepted

    def wait_for(self, count: int, seconds: float) -> None:
        """Until at least `count` mails got `250` (bounded by `seconds`)."""
        wait_until(lambda: self.accepted >= count, f"{count} mails accepted", seconds, step=0.01)


class Client(threading.Thread):
    """Sends its mails in order over one reused connection; on any failure it reconnects and
    sends the same mail again (the server may have stored it: then it answers 250 again)."""

    def __init__(self, port: int, mails: list[Mail], deadline: float, progress: Progress):
        super().__init__(daemon=True)
        self.port = port
        self.mails = mails
        self.deadline = deadline
        self.progress = progress
        self.errors: list[str] = []

    def run(self) -> None:
        connection: smtplib.SMTP | None = None
        try:
            for mail in self.mails:
                connection = self._deliver(mail, connection)
                if not mail.accepted:
                    return  # out of time: later mails may answer this one, so stop here
        finally:
            if connection is not None:
                _close(connection)

    def _deliver(self, mail: Mail, connection: smtplib.SMTP | None) -> smtplib.SMTP | None:
        while time.monotonic() < self.deadline:
            mail.attempts += 1
            try:
                if connection is None:
                    connection = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
                connection.sendmail(mail.sender, [SUPPORT], mail.data())
            except (OSError, smtplib.SMTPException) as exc:
                self.errors.append(f"{mail.token}: {type(exc).__name__}: {exc}"[:200])
                if connection is not None:
                    _close(connection)
                connection = None
                time.sleep(0.05)
                continue
            mail.accepted = True
            self.progress.add()
            return connection
        return connection


def _close(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (OSError, smtplib.SMTPException):
        connection.close()


def check_each_mail_on_one_ticket(mails: list[Mail], held: Holdings) -> dict[str, str]:
    """Every accepted mail is on exactly one ticket, a reply on its parent's; no mail twice;
    every ticket opened by a new mail. Returns {token: ticket ref}."""
    seen: Counter[str] = Counter()
    where: dict[str, str] = {}
    for ref, texts in held.customer_texts().items():
        assert texts, f"{ref} has no customer message"
        first = TOKEN.findall(texts[0])
        assert len(first) == 1, f"{ref} does not open with one of the burst's mails: {texts[0]!r}"
        for text in texts:
            for token in TOKEN.findall(text):
                seen[token] += 1
                where[token] = ref
    twice = sorted(token for token, count in seen.items() if count > 1)
    assert not twice, f"on more than one ticket or twice on one: {twice}"
    by_token = {mail.token: mail for mail in mails}
    missing = sorted(m.token for m in mails if m.accepted and m.token not in where)
    assert not missing, f"got 250 but are on no ticket: {missing}"
    for token, ref in where.items():
        mail = by_token[token]
        opener = mail.opener
        assert where.get(opener.token) == ref, f"{token} is on {ref}, its conversation is not"
    for ticket in held.tickets:
        [first] = TOKEN.findall(held.customer_texts()[ticket["ref"]][0])
        assert by_token[first].parent is None, f"a reply, {first}, opened {ticket['ref']}"
    return where


def acknowledgements(messages: list[EmailMessage]) -> Counter[str]:
    """How many automatic acknowledgements went out for each ticket ref."""
    counted: Counter[str] = Counter()
    for message in messages:
        match = TICKET_TAG.search(str(message["Subject"]))
        assert match, f"an outbound mail without a ticket tag: {message['Subject']!r}"
        assert message["Auto-Submitted"] == "auto-replied", message["Subject"]
        counted[f"T-{match.group(1)}"] += 1
    return counted


def check_acknowledgements(
    mails: list[Mail], where: dict[str, str], sent: list[EmailMessage], most: int
) -> None:
    """Each ticket got between one and `most` acknowledgements, each answering the mail that
    opened it, and no mail went out for a ticket that does not exist."""
    acks = acknowledgements(sent)
    tickets = set(where.values())
    assert set(acks) == tickets, (
        f"no acknowledgement: {sorted(tickets - set(acks))}; "
        f"for no ticket: {sorted(set(acks) - tickets)}"
    )
    too_many = {ref: count for ref, count in acks.items() if count > most}
    assert not too_many, f"acknowledged more than {most} times: {too_many}"
    opened_by = {where[m.token]: m.message_id for m in mails if m.token in where and not m.parent}
    for message in sent:
        [ref] = acknowledgements([message])
        assert message["In-Reply-To"] == opened_by[ref], f"{ref}'s ack answers another mail"

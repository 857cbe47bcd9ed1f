"""Two `tidings run` processes on one PostgreSQL database, sending through a slow SMTP relay:
no customer receives a message twice, and every mail is on exactly one ticket."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.fault_burst import Client, Progress, check_each_mail_on_one_ticket, conversations
from tests.fault_harness import (
    SinkRelay,
    Tidings,
    backlog,
    environment,
    holdings,
    relay_settings,
    wait_for_quiet,
    wait_until,
)

MAILS = 20
RELAY_SECONDS = 1.0  # per message: the relay's 250 comes this late
# Much longer than one send, much shorter than a batch of sends: a worker that holds a whole
# batch under one lease loses the lease on the rows at the end of its batch while sending.
LEASE_SECONDS = "5"


@pytest.mark.timeout(240)
def test_two_processes_and_a_slow_relay_send_each_customer_one_acknowledgement(
    database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("two processes share a database only on PostgreSQL")
    rng = random.Random(12)
    mails = conversations(rng, 0, MAILS, reply_share=0.0)
    for n, mail in enumerate(mails):
        mail.sender = f"customer{n}@customers.example"  # one customer each: one ack each
    with SinkRelay(delay=RELAY_SECONDS) as relay:
        desks = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            env = environment(
                tmp_path / name, database_url, TIDINGS_TEST_OUTBOX_LEASE=LEASE_SECONDS,
                **relay_settings(relay.port),
            )  # fmt: skip
            desks.append(Tidings(env, tmp_path / name))
        try:
            for desk in desks:
                desk.start()
            progress = Progress()
            deadline = time.monotonic() + 60
            # Half the customers write to one process, half to the other.
            clients = [
                Client(desk.smtp_port, mails[half::2], deadline, progress)
                for half, desk in enumerate(desks)
            ]
            for client in clients:
                client.start()
            for client in clients:
                client.join(timeout=75)
            assert all(mail.accepted for mail in mails), [c.errors for c in clients]

            def delivered() -> bool:
                unprocessed, undelivered, tickets = backlog(database_url)
                return not unprocessed and not undelivered and tickets == MAILS

            wait_until(delivered, "every acknowledgement sent", seconds=120, step=0.5)
            # A worker whose lease ran out may still be sending: let the relay go quiet.
            wait_for_quiet(lambda: len(relay.messages()), quiet=3.0)
        finally:
            for desk in desks:
                desk.stop()
    held = holdings(database_url)
    check_each_mail_on_one_ticket(mails, held)
    received = Counter(r for item in relay.messages() for r in item.recipients)
    twice = {customer: n for customer, n in received.items() if n > 1}
    assert not twice, f"customers who got the same message more than once: {twice}"
    assert set(received) == {mail.sender for mail in mails}

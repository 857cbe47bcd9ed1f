"""kill -9 of `tidings run` at random points of an SMTP burst from several clients: every mail
that got `250` ends up on exactly one ticket, and every ticket is acknowledged once (Maildir)
or a few times at most (an SMTP relay: at-least-once)."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.fault_burst import (
    Client,
    Mail,
    Progress,
    acknowledgements,
    check_acknowledgements,
    check_each_mail_on_one_ticket,
    conversations,
)
from tests.fault_harness import (
    Holdings,
    SinkRelay,
    Tidings,
    backlog,
    environment,
    holdings,
    maildir,
    relay_settings,
    run_cli,
    wait_until,
)

# The seed picks the mails and the kill points; set TIDINGS_FAULT_SEED to replay a failure.
SEED = int(os.environ.get("TIDINGS_FAULT_SEED", "1212"))
# (clients, mails per client, kills) by outbound transport: the relay case is smaller, since
# the SMTP round trips make it slower and it checks a weaker promise.
SIZES = {"maildir": (4, 50, 3), "smtp": (3, 40, 2)}
# Short, so that rows a killed process had leased are sent again within the test's wait.
LEASE_SECONDS = "4"
BURST_SECONDS = 120.0


@contextmanager
def relay_for(transport: str) -> Iterator[SinkRelay | None]:
    if transport == "maildir":
        yield None
        return
    with SinkRelay() as relay:
        yield relay


def burst_with_kills(
    tidings: Tidings, mails: list[list[Mail]], kills: int, rng: random.Random
) -> None:
    """Clients send their mails while the process is SIGKILLed and restarted `kills` times,
    each time after a random number of mails got `250` and a random moment more."""
    total = sum(len(batch) for batch in mails)
    kill_at = sorted(rng.sample(range(total // 10, total * 8 // 10), kills))
    progress = Progress()
    deadline = time.monotonic() + BURST_SECONDS
    clients = [Client(tidings.smtp_port, batch, deadline, progress) for batch in mails]
    for client in clients:
        client.start()
    try:
        for threshold in kill_at:
            progress.wait_for(threshold, seconds=BURST_SECONDS)
            time.sleep(rng.uniform(0.0, 0.3))
            tidings.kill()
            time.sleep(rng.uniform(0.0, 0.5))
            tidings.start()
        for client in clients:
            client.join(timeout=max(deadline - time.monotonic(), 0) + 15)
            assert not client.is_alive(), "a client is still sending after the burst's deadline"
    finally:
        for client in clients:
            client.deadline = 0.0  # on a failure above: stop sending at the next mail


def drained(database_url: str, acknowledged: int) -> bool:
    """Whether all stored mail is applied and all outbound mail sent."""
    unprocessed, undelivered, tickets = backlog(database_url)
    return not unprocessed and not undelivered and acknowledged >= tickets


@pytest.mark.timeout(300)
@pytest.mark.parametrize("transport", ["maildir", "smtp"])
def test_kill_9_during_a_burst_loses_nothing_and_duplicates_nothing(
    database_url: str, tmp_path: Path, transport: str
) -> None:
    rng = random.Random(f"{SEED}-{transport}")
    clients, per_client, kills = SIZES[transport]
    mails = [conversations(rng, client, per_client, 0.3) for client in range(clients)]
    with relay_for(transport) as relay:
        extra = relay_settings(relay.port) if relay is not None else {}
        env = environment(tmp_path, database_url, TIDINGS_TEST_OUTBOX_LEASE=LEASE_SECONDS, **extra)
        tidings = Tidings(env, tmp_path)

        def sent() -> list[EmailMessage]:
            if relay is None:
                return maildir(tmp_path / "outbox")
            return [item.message for item in relay.messages()]

        tidings.start()
        try:
            burst_with_kills(tidings, mails, kills, rng)
            wait_until(
                lambda: drained(database_url, len({*acknowledgements(sent())})),
                "every stored mail applied and every acknowledgement sent",
                seconds=90,
                step=0.25,
            )
            held = holdings(database_url)
            assert tidings.stop() == 0, tidings.log()
        finally:
            tidings.kill()
        everything = [mail for batch in mails for mail in batch]
        try:
            check_outcome(everything, held, sent(), kills if relay is not None else 0)
        except AssertionError as failure:
            raise AssertionError(f"{failure} (seed {SEED}, {transport})\n{tidings.log()}") from None
        listed = json.loads(run_cli(env, tmp_path, "tickets", "list", "--json"))
        assert sorted(t["ref"] for t in listed) == sorted(t["ref"] for t in held.tickets)


def check_outcome(mails: list[Mail], held: Holdings, sent: list[EmailMessage], kills: int) -> None:
    assert sum(mail.accepted for mail in mails) > len(mails) // 2, "the burst hardly got through"
    assert sum(mail.attempts - 1 for mail in mails) >= 1, "no kill interrupted a send"
    where = check_each_mail_on_one_ticket(mails, held)
    # Maildir writes are idempotent per outbox row: exactly once (kills=0 here). Through a relay
    # it is at-least-once: a kill between the relay's 250 and recording it sends it again.
    check_acknowledgements(mails, where, sent, most=kills + 1)

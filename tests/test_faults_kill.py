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
from pathlib import Path

import pytest

from tests.fault_burst import (
    Client,
    Mail,
    Progress,
    acknowledgements,
    check_each_mail_on_one_ticket,
    conversations,
)
from tests.fault_harness import (
    Holdings,
    SinkRelay,
    Tidings,
    environment,
    holdings,
    maildir,
    relay_settings,
    run_cli,
    wait_until,
)

# The seed picks the mails and the kill points; set TIDINGS_FAULT_SEED to replay a failure.
SEED = int(os.environ.get("TIDINGS_FAULT_SEED", "1212"))
CLIENTS = 4
MAILS_PER_CLIENT = 60
KILLS = 3
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


def burst_with_kills(tidings: Tidings, mails: list[list[Mail]], rng: random.Random) -> None:
    """Clients send their mails while the process is SIGKILLed and restarted KILLS times,
    each time after a random number of mails got `250` and a random moment more."""
    total = sum(len(batch) for batch in mails)
    kill_at = sorted(rng.sample(range(total // 10, total * 8 // 10), KILLS))
    progress = Progress()
    deadline = time.monotonic() + BURST_SECONDS
    clients = [Client(tidings.smtp_port, batch, deadline, progress) for batch in mails]
    for client in clients:
        client.start()
    for threshold in kill_at:
        wait_until(
            lambda t=threshold: progress.accepted >= t,  # type: ignore[misc]
            f"{threshold} mails accepted",
            seconds=BURST_SECONDS,
            step=0.01,
        )
        time.sleep(rng.uniform(0.0, 0.3))
        tidings.kill()
        time.sleep(rng.uniform(0.0, 0.5))
        tidings.start()
    for client in clients:
        client.join(timeout=max(deadline - time.monotonic(), 0) + 15)
        assert not client.is_alive(), "a client is still sending after the burst's deadline"


def drained(tidings: Tidings, database_url: str, acked: int) -> Holdings | None:
    """The holdings once all stored mail is applied and all outbound mail sent."""
    held = holdings(database_url)
    done = not held.unprocessed and not held.undelivered and acked >= len(held.tickets)
    return held if done else None


@pytest.mark.timeout(300)
@pytest.mark.parametrize("transport", ["maildir", "smtp"])
def test_kill_9_during_a_burst_loses_nothing_and_duplicates_nothing(
    database_url: str, tmp_path: Path, transport: str
) -> None:
    rng = random.Random(f"{SEED}-{transport}")
    mails = [conversations(rng, client, MAILS_PER_CLIENT, 0.3) for client in range(CLIENTS)]
    with relay_for(transport) as relay:
        extra = relay_settings(relay.port) if relay is not None else {}
        env = environment(tmp_path, database_url, TIDINGS_TEST_OUTBOX_LEASE=LEASE_SECONDS, **extra)
        tidings = Tidings(env, tmp_path)

        def sent() -> list:  # type: ignore[type-arg]
            if relay is None:
                return maildir(tmp_path / "outbox")
            return [item.message for item in relay.messages()]

        tidings.start()
        try:
            burst_with_kills(tidings, mails, rng)
            held = wait_until(
                lambda: drained(tidings, database_url, len({*acknowledgements(sent())})),
                "every stored mail applied and every acknowledgement sent",
                seconds=90,
                step=0.5,
            )
            assert tidings.stop() == 0, tidings.log()
        finally:
            tidings.kill()
        everything = [mail for batch in mails for mail in batch]
        context = f"seed {SEED}, {transport}; log:\n{tidings.log()}"
        assert sum(mail.accepted for mail in everything) > len(everything) // 2, context
        assert sum(mail.attempts - 1 for mail in everything) >= 1, "no kill interrupted a send"
        where = check_each_mail_on_one_ticket(everything, held)
        listed = json.loads(run_cli(env, tmp_path, "tickets", "list", "--json"))
        assert sorted(t["ref"] for t in listed) == sorted(t["ref"] for t in held.tickets)

        acks = acknowledgements(sent())
        refs = {ticket["ref"] for ticket in held.tickets}
        assert set(acks) == refs, "an acknowledgement for each ticket and for no other"
        if relay is None:
            twice = {ref: n for ref, n in acks.items() if n != 1}
            assert not twice, f"acknowledged more than once: {twice}; {context}"
        else:
            # At-least-once: a kill between the relay's 250 and recording it sends it again.
            too_many = {ref: n for ref, n in acks.items() if n > KILLS + 1}
            assert not too_many, f"acknowledged too often: {too_many}; {context}"
        openers = {
            where[m.token]: m.message_id
            for m in everything
            if m.parent is None and m.token in where
        }
        for message in sent():
            ref = acknowledgements([message]).most_common(1)[0][0]
            assert message["In-Reply-To"] == openers[ref], f"{ref}'s ack answers another mail"

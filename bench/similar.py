"""Similar-ticket benchmark: the cost of matching one new ticket at 1k, 10k and 100k open tickets.

Run by hand from the repository root: `.venv/bin/python -m bench.similar`. For each size the
same database gives, in the same run:
- similar: what the processor does for a new ticket (core/similar/record.py file_and_match:
  file its keys, read the newest tickets under each key, score them with rapidfuzz, store the
  matches);
- baseline: a plain indexed lookup (the ticket and its first message by primary key), the
  cost that does not grow with the table;
- naive: scoring every open ticket with the same scorer, the cost a bounded candidate set
  avoids.
Texts draw words from a 5,000-word vocabulary with Zipf-like frequencies, so the commonest
keys are filed under a large share of the tickets (the case a bounded lookup must survive).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidfuzz import fuzz, process
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Connection

from core.similar.find import MIN_SCORE, PER_KEY, candidate_ids
from core.similar.record import file_and_match
from core.similar.words import KEY_WORDS, distinctive_words, index_keys, joined
from core.storage.db import Database
from core.storage.models import Ticket, TicketEvent

STAMP = "2026-11-01 09:00:00.000000"
NEW = 200  # new tickets matched at each size


def _vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choices(letters, k=rng.randint(4, 9))) for _ in range(5000)]
    return words, [1.0 / (rank + 1) for rank in range(len(words))]


def _ticket(rng: random.Random, vocabulary: tuple[list[str], list[float]]) -> tuple[str, str]:
    words, weights = vocabulary
    return (" ".join(rng.choices(words, weights, k=5)), " ".join(rng.choices(words, weights, k=30)))


def fill(
    path: Path, tickets: int, rng: random.Random, vocabulary: tuple[list[str], list[float]]
) -> None:
    """`tickets` open tickets, each with its first message, filed as the processor files them."""
    connection = sqlite3.connect(path)
    connection.execute(
        "INSERT INTO contacts (id, channel, address, name, created_at) "
        f"VALUES (1, 'email', 'c@example.com', 'Carol', '{STAMP}')"
    )
    rows, events, texts, keys = [], [], [], []
    for number in range(1, tickets + 1):
        subject, message = _ticket(rng, vocabulary)
        rows.append(
            (number, "open", "normal", subject, 1, "email", "c@example.com", "", "", STAMP, STAMP)
        )
        events.append((number, "customer_message", message, STAMP))
        words = distinctive_words(subject, message)
        texts.append((number, joined(words)))
        keys.extend((key, number) for key in index_keys(words))
    connection.executemany(
        "INSERT INTO tickets (id, status, priority, subject, requester_id, "
        "reply_channel, reply_address, reply_thread, waiting_on, created_at, "
        "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    connection.executemany(
        "INSERT INTO ticket_events (ticket_id, kind, visibility, author, text, "
        "at, channel, external_id) VALUES (?, ?, 'public', '', ?, ?, 'email', '')",
        events,
    )
    connection.executemany("INSERT INTO similar_texts VALUES (?, ?)", texts)
    connection.executemany("INSERT INTO similar_keys VALUES (?, ?)", keys)
    connection.commit()
    connection.close()


def add_new(
    connection: Connection,
    first: int,
    rng: random.Random,
    vocabulary: tuple[list[str], list[float]],
) -> list[int]:
    """NEW tickets opened but not matched yet (as the processor finds them after opening)."""
    numbers = list(range(first, first + NEW))
    for number in numbers:
        subject, message = _ticket(rng, vocabulary)
        connection.execute(
            text(
                "INSERT INTO tickets (id, status, priority, subject, requester_id, reply_channel, "
                "reply_address, reply_thread, waiting_on, created_at, updated_at) VALUES "
                "(:n, 'new', 'normal', :s, 1, 'email', 'c@example.com', '', '', :t, :t)"
            ),
            {"n": number, "s": subject, "t": STAMP},
        )
        connection.execute(
            text(
                "INSERT INTO ticket_events (ticket_id, kind, visibility, author, text, at, "
                "channel, external_id) "
                "VALUES (:n, 'customer_message', 'public', '', :m, :t, 'email', '')"
            ),
            {"n": number, "m": message, "t": STAMP},
        )
    return numbers


def _per_ticket(numbers: list[int], work: Callable[[int], object]) -> tuple[float, float]:
    """Median and 90th percentile, in milliseconds, of `work` once per ticket."""
    timings = []
    for number in numbers:
        start = time.perf_counter()
        work(number)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.9)]


def _lookup(connection: Connection, number: int) -> object:
    ticket = connection.execute(select(Ticket.subject).where(Ticket.id == number)).first()
    first = connection.execute(
        select(TicketEvent.text)
        .where(TicketEvent.ticket_id == number)
        .order_by(TicketEvent.id)
        .limit(1)
    ).first()
    return ticket, first


def _naive(connection: Connection, number: int) -> object:
    words = connection.scalar(
        select(text("words")).select_from(text("similar_texts")).where(text("ticket_id = :n")),
        {"n": number},
    )
    everything = dict(
        connection.execute(
            text("SELECT ticket_id, words FROM similar_texts WHERE ticket_id < :n"), {"n": number}
        ).all()
    )
    return process.extract(
        words or "", everything, scorer=fuzz.WRatio, limit=5, score_cutoff=MIN_SCORE
    )


async def measure(folder: Path, tickets: int) -> tuple[float, float]:
    path = folder / f"similar-{tickets}.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.upgrade()
    await db.dispose()
    rng = random.Random(13)
    vocabulary = _vocabulary(rng)
    fill(path, tickets, rng, vocabulary)
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        numbers = add_new(connection, tickets + 1, rng, vocabulary)
        similar, similar_p90 = _per_ticket(numbers, lambda n: file_and_match(connection, [n]))
        plain, plain_p90 = _per_ticket(numbers, lambda n: _lookup(connection, n))
        naive, _ = _per_ticket(numbers[:20], lambda n: _naive(connection, n))
        matched = connection.scalar(text("SELECT count(DISTINCT ticket_id) FROM similar_matches"))
        words = {
            n: w.split()
            for n, w in connection.execute(
                text("SELECT ticket_id, words FROM similar_texts WHERE ticket_id > :n"),
                {"n": tickets},
            )
        }
        read = statistics.mean(
            len(candidate_ids(connection, index_keys(w), n)) for n, w in words.items()
        )
        connection.rollback()
    engine.dispose()
    print(
        f"{tickets // 1000:4d}k open: similar {similar:6.2f} ms (p90 {similar_p90:6.2f}); "
        f"baseline indexed lookup {plain:5.3f} ms (p90 {plain_p90:5.3f}); naive score-all "
        f"{naive:8.2f} ms; {read:.0f} candidates scored (at most {KEY_WORDS * PER_KEY}); "
        f"{matched} of {NEW} matched"
    )
    return similar, plain


async def main() -> None:
    print(f"== similar tickets: cost per new ticket (median of {NEW}; SQLite) ==")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for tickets in (1_000, 10_000, 100_000):
            results[tickets] = await measure(Path(tmp), tickets)
    (small, small_plain), (large, large_plain) = results[1_000], results[100_000]
    print(
        f"1k -> 100k open tickets (100x): similar x{large / small:.2f}, "
        f"baseline lookup x{large_plain / small_plain:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())

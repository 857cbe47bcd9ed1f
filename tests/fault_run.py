"""`tidings` for the fault tests, with the outbox lease shortened by TIDINGS_TEST_OUTBOX_LEASE.

The delivery worker's lease is a module constant (minutes long in production); the fault tests
need it to expire within seconds, to see what a second worker or a restarted process does with
rows whose lease ran out. Run as `python -m tests.fault_run run`.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta

LEASE_VARIABLE = "TIDINGS_TEST_OUTBOX_LEASE"


def _shorten_lease(seconds: str) -> None:
    from core.delivery import worker

    # Fail loudly rather than run with the production lease: a test that silently did not
    # shorten it would pass without having provoked anything.
    current = getattr(worker, "LEASE", None)
    if not isinstance(current, timedelta):
        raise SystemExit(f"{LEASE_VARIABLE}: core.delivery.worker has no LEASE to shorten")
    worker.LEASE = timedelta(seconds=float(seconds))


def main() -> int:
    seconds = os.environ.get(LEASE_VARIABLE, "")
    if seconds:
        _shorten_lease(seconds)
    from bot.cli import main as tidings

    return tidings(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())

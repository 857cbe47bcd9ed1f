"""`tidings stats` as an operator runs it: JSON that adds up, plain text, and bad input refused."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.storage.db import Database
from tests.stats_seed import plan_desk, write_desk
from tests.test_stats import approx_figures, expected

ROOT = Path(__file__).resolve().parent.parent


async def tidings(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TIDINGS_DATABASE__URL": database_url}
    env.pop("TIDINGS_CONFIG", None)
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "stats", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


async def test_stats_json_adds_up_and_text_reads_plainly(database_url: str) -> None:
    db = Database(database_url)
    await db.upgrade()
    seeded = plan_desk(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1))
    await write_desk(db, seeded)
    await db.dispose()

    done = await tidings(database_url, "--since", "14d", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    since, until = moment(found["since"]), moment(found["until"])
    assert timedelta(days=14) == until - since
    approx_figures(found, expected(seeded, since, until))
    assert found["tickets"]["opened"] > 0

    text = await tidings(database_url)
    assert text.returncode == 0, text.stderr
    assert "tickets opened" in text.stdout and "median" in text.stdout


async def test_a_bad_since_is_named_and_touches_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/never.db"
    done = await tidings(url, "--since", "banana")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("tidings: since 'banana': write a duration")
    assert not (tmp_path / "never.db").exists(), "bad input changes nothing, not even a file"

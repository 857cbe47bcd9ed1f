"""Work to do once a session's transaction has committed: counters and log lines that must not
tell of changes a rollback undid."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

_KEY = "tidings_on_commit"

# A callback, and the savepoint it was registered in (None: the outer transaction).
_Waiting = list[tuple[SessionTransaction | None, Callable[[], None]]]


def on_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` after the session's outermost transaction commits. A rollback drops it,
    and so does rolling back the savepoint it was registered in (or one around that)."""
    sync = session.sync_session
    waiting: _Waiting | None = sync.info.get(_KEY)
    if waiting is None:
        waiting = sync.info[_KEY] = []
        event.listen(sync, "after_commit", _run)
        event.listen(sync, "after_soft_rollback", _forget)
    waiting.append((sync.get_nested_transaction(), callback))


def _run(sync: Session) -> None:
    if sync.in_nested_transaction():
        return  # a savepoint released: its work commits, or not, with the outer transaction
    waiting: _Waiting = sync.info.get(_KEY, [])
    sync.info[_KEY] = []
    for _, callback in waiting:
        callback()


def _forget(sync: Session, previous: SessionTransaction) -> None:
    waiting: _Waiting = sync.info.get(_KEY, [])
    if previous.parent is None:
        sync.info[_KEY] = []
        return
    sync.info[_KEY] = [(owner, cb) for owner, cb in waiting if not _within(owner, previous)]


def _within(owner: SessionTransaction | None, savepoint: SessionTransaction) -> bool:
    while owner is not None:
        if owner is savepoint:
            return True
        owner = owner.parent
    return False

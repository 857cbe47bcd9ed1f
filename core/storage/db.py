"""The database: engine, sessions, SQLite pragmas and Alembic migrations."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar, overload

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, create_engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module's own transaction handling breaks SAVEPOINT and begins lazily; turn it
    # off and let _sqlite_begin say BEGIN itself (SQLAlchemy's documented recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; FULL makes a commit survive power loss, which is
    # what "250 only after durably stored" means. Group commit pays the fsync once per batch.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_no_wait(dbapi_connection: Any, _record: Any) -> None:
    # For the connection used on the event loop's thread: when another process (the CLI, say)
    # holds the write lock, fail at once instead of blocking the whole loop in the busy handler.
    dbapi_connection.execute("PRAGMA busy_timeout=0")


def _sqlite_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(_READ_ONLY):
        # A reader takes no lock: in WAL it sees one snapshot and never waits for the writer.
        connection.exec_driver_sql("BEGIN")
        return
    # IMMEDIATE takes the write lock up front: a transaction that reads and then writes cannot
    # fail with SQLITE_BUSY_SNAPSHOT when another process (the CLI, say) committed in between;
    # it waits for the lock under busy_timeout instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


_READ_ONLY = "tidings_read_only"
# Set while this task (and what it awaits) holds the SQLite write turn.
_IN_WRITE: ContextVar[bool] = ContextVar("tidings_in_write", default=False)


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        # Sessions for reading only (they never take SQLite's write lock).
        self.sessions = async_sessionmaker(
            self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )
        self._writers = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Writers of this process queue here, in order, rather
        # than in SQLite's busy handler, which sleeps and retries (up to 100 ms a time) and so
        # wastes most of the lock's time when the inbox, the processor and delivery all write.
        self._write_turn = asyncio.Lock()
        self._direct: Engine | None = None
        self._direct_thread: ThreadPoolExecutor | None = None
        self._inline: Engine | None = None
        self._inline_connection: Connection | None = None
        self._now_connection: AsyncConnection | None = None
        self._now_lock = asyncio.Lock()
        database = parsed.database or ""
        if self.is_sqlite and database and database != ":memory:":
            plain = parsed.set(drivername="sqlite+pysqlite")
            self._direct = create_engine(plain, echo=echo)
            # One thread: the engine's connection is only ever used from there.
            self._direct_thread = ThreadPoolExecutor(1, thread_name_prefix="tidings-db-write")
            self._inline = create_engine(plain, echo=echo)  # only ever used on the loop's thread
            for engine in (self._direct, self._inline):
                event.listen(engine, "connect", _sqlite_pragmas)
                event.listen(engine, "begin", _sqlite_begin)
            event.listen(self._inline, "connect", _sqlite_no_wait)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if not self.is_sqlite:
            yield  # PostgreSQL locks rows, not the database: writers run side by side
            return
        if _IN_WRITE.get():
            # The turn is not re-entrant: waiting for it here would wait forever, silently.
            raise RuntimeError("a write transaction was opened inside another one")
        async with self._write_turn:
            token = _IN_WRITE.set(True)
            try:
                yield
            finally:
                _IN_WRITE.reset(token)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self._turn(), self._writers() as session, session.begin():
            yield session

    @overload
    async def write(
        self, work: Callable[[AsyncSession], Coroutine[Any, Any, T]], *, urgent: bool = False
    ) -> T: ...
    @overload
    async def write(self, work: Callable[[Connection], T], *, urgent: bool = False) -> T: ...
    async def write(self, work: Callable[..., Any], *, urgent: bool = False) -> Any:
        """THE way to write: run `work` as one transaction, committed when it returns.

        `work` is either an `async def` taking an AsyncSession (ORM work), or a plain function
        taking a synchronous Connection (statements only, for grouped inserts). Where it runs is
        this class's choice, per backend. `urgent` says a platform is waiting for this write to
        acknowledge a message; the work must then be one short statement, and may run twice.
        """
        if inspect.iscoroutinefunction(work):
            async with self.transaction() as session:
                return await work(session)
        if urgent:
            return await self.write_now(work)
        return await self.write_sync(work)

    async def write_sync(self, work: Callable[[Connection], T]) -> T:
        """Run `work` with a plain (synchronous) connection inside one write transaction.

        On a SQLite file it runs in a thread of its own with its own connection: the whole
        transaction is one hop, where the async driver makes a hop per statement (and the
        acknowledgement path waits on this). Elsewhere it runs on the async engine."""
        async with self._turn():
            if self._direct is None:
                async with self.engine.begin() as connection:
                    return await connection.run_sync(work)
            return await self._on_writer_thread(work)

    async def _on_writer_thread(self, work: Callable[[Connection], T]) -> T:
        direct = self._direct
        assert direct is not None  # a SQLite file: set in __init__
        return await asyncio.get_running_loop().run_in_executor(
            self._direct_thread, lambda: _in_transaction(direct, work)
        )

    async def write_now(self, work: Callable[[Connection], T]) -> T:
        """Like `write_sync`, for one short write on the acknowledgement path (the inbox).

        On a SQLite file it runs on the event loop's own thread, blocking the loop for the
        commit's fsync. That is cheaper than the hand-off to a thread and back, and the GIL
        contention it causes: measured with 16 SMTP connections, 1.4x the messages accepted per
        second. Callers waiting on the loop meanwhile are mostly waiting for this very commit
        (group commit). When another process holds the write lock, the work is retried on the
        writer thread, which waits for it: `work` may therefore be called twice, and must have
        no effect outside its transaction."""
        if self._inline is None:
            if self.is_sqlite:  # in memory: there is no file to open a second connection on
                return await self.write_sync(work)
            return await self._write_now_server(work)
        async with self._turn():
            try:
                # One connection kept open: a pool check-out and its reset on return cost more
                # than the insert itself.
                if self._inline_connection is None:
                    self._inline_connection = self._inline.connect()
                with self._inline_connection.begin():
                    return work(self._inline_connection)
            except OperationalError as exc:
                if getattr(exc.orig, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
                    raise
            return await self._on_writer_thread(work)

    async def _write_now_server(self, work: Callable[[Connection], T]) -> T:
        """PostgreSQL: one connection kept for the acknowledgement path, in autocommit.

        A pool check-out pings the server first (pool_pre_ping) and resets the connection on
        return, and BEGIN and COMMIT are round trips too: together they cost twice the insert.
        In autocommit the server commits each statement on its own, atomically and durably
        (synchronous_commit), so `work` must be a single statement, as the inbox's one INSERT
        is. A dropped connection is replaced once."""
        async with self._now_lock:
            for attempt in (1, 2):
                if self._now_connection is None:
                    connection = await self.engine.connect()
                    self._now_connection = await connection.execution_options(
                        isolation_level="AUTOCOMMIT"
                    )
                connection = self._now_connection
                try:
                    async with connection.begin():
                        return await connection.run_sync(work)
                except DBAPIError as exc:
                    if not exc.connection_invalidated or attempt == 2:
                        raise
                    log.warning("the inbox's database connection was lost; reconnecting")
                    await self._close_now_connection()
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _close_now_connection(self) -> None:
        connection, self._now_connection = self._now_connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # it may be broken already; it goes anyway
                await connection.close()

    async def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied."""
        async with self.engine.begin() as connection:
            if not self.is_sqlite:
                # Several processes may start at once on PostgreSQL: one migrates, others wait.
                await connection.execute(text("SELECT pg_advisory_xact_lock(72656701)"))
            await connection.run_sync(_run_upgrade)

    async def ping(self) -> str | None:
        """None when the database answers, else the error."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "not reachable" for /healthz
            return f"{type(exc).__name__}: {exc}"
        return None

    async def dispose(self) -> None:
        await self._close_now_connection()
        await self.engine.dispose()
        if self._inline_connection is not None:
            self._inline_connection.close()
            self._inline_connection = None
        if self._inline is not None:
            self._inline.dispose()
            self._inline = None
        if self._direct is not None and self._direct_thread is not None:
            direct = self._direct
            await asyncio.get_running_loop().run_in_executor(self._direct_thread, direct.dispose)
            self._direct_thread.shutdown(wait=True)
            self._direct = self._direct_thread = None


def _in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.begin() as connection:
        return work(connection)


def alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _run_upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")

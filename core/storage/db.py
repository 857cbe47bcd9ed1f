"""The database: engine, sessions, SQLite pragmas and Alembic migrations."""

from __future__ import annotations

import asyncio
import contextlib
import functools
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


def clean_text(value: object) -> object:
    """A str without NUL, which PostgreSQL text cannot hold (SQLite could, but a stored value
    must read back the same on both); anything else unchanged."""
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "")
    return value


def _clean_parameters(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        return {key: clean_text(value) for key, value in parameters.items()}
    if isinstance(parameters, tuple):
        return tuple(clean_text(value) for value in parameters)
    if isinstance(parameters, list):  # executemany: one set of parameters per row
        return [_clean_parameters(row) for row in parameters]
    return parameters


def _clean_before_execute(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
) -> tuple[str, Any]:
    # The one place text is cleaned on its way to the database, whichever write road (ORM,
    # Core, grouped) produced it: a NUL in a mail must not make its row fail forever.
    return statement, _clean_parameters(parameters)


class Database:
    """One engine and its session factory; `write` is the one way to change anything.

    Reads use `sessions()`. Every write goes through `write(work)`, which picks where the work
    runs for this backend (see `write`); nothing outside this class chooses a write road.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        database = parsed.database or ""
        on_file = self.is_sqlite and bool(database) and database != ":memory:"
        if on_file:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        event.listen(self.engine.sync_engine, "before_cursor_execute", _clean_before_execute,
                     retval=True)  # fmt: skip
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
        # On a SQLite file, statement work runs on a plain (synchronous) engine: in a thread of
        # its own, or for the urgent insert on the loop's thread over one kept connection.
        self._plain: Engine | None = None
        self._plain_thread: ThreadPoolExecutor | None = None
        self._inline: Connection | None = None
        # On PostgreSQL, the urgent insert's kept connection, in autocommit.
        self._kept: AsyncConnection | None = None
        self._kept_lock = asyncio.Lock()
        if on_file:
            self._plain = create_engine(parsed.set(drivername="sqlite+pysqlite"), echo=echo)
            event.listen(self._plain, "connect", _sqlite_pragmas)
            event.listen(self._plain, "begin", _sqlite_begin)
            event.listen(self._plain, "before_cursor_execute", _clean_before_execute,
                         retval=True)  # fmt: skip
            self._plain_thread = ThreadPoolExecutor(1, thread_name_prefix="tidings-db-write")

    @overload
    async def write(
        self, work: Callable[[AsyncSession], Coroutine[Any, Any, T]], *, urgent: bool = False
    ) -> T: ...
    @overload
    async def write(self, work: Callable[[Connection], T], *, urgent: bool = False) -> T: ...
    async def write(self, work: Callable[..., Any], *, urgent: bool = False) -> Any:
        """THE way to write: run `work` as one transaction, committed when it returns and rolled
        back when it raises.

        `work` is either an `async def` taking an AsyncSession (ORM work), or a plain function
        taking a synchronous Connection (statements only). Where it runs is decided here:

        - ORM work runs on the async engine, one SQLite writer of this process at a time.
        - Statement work on a SQLite file runs in the writer thread with its own connection:
          the whole transaction is one hop, where the async driver makes a hop per statement
          through a busy event loop, holding SQLite's one write lock all that while.
        - `urgent` says a platform waits for this write to acknowledge a message (the inbox's
          insert, before SMTP's `250`). The work must then be one short statement, may run
          twice, and must have no effect outside its transaction. On a SQLite file it runs on
          the loop's own thread (measured with 16 SMTP connections: 1.4x the messages accepted
          a second over the hand-off to the writer thread); on PostgreSQL on one kept
          connection in autocommit (a pool check-out, its ping and BEGIN/COMMIT cost twice the
          insert). Everywhere else `urgent` changes nothing.
        """
        if inspect.iscoroutinefunction(work):
            async with self._turn(), self._writers() as session, session.begin():
                return await work(session)
        work = functools.partial(_statements_only, work)
        if urgent and self._plain is not None:
            return await self._inline_write(work)
        if urgent and not self.is_sqlite:
            return await self._kept_write(work)
        async with self._turn():
            if self._plain is None:
                async with self.engine.begin() as connection:
                    return await connection.run_sync(work)
            return await self._on_writer_thread(work)

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

    async def _on_writer_thread(self, work: Callable[[Connection], T]) -> T:
        plain = self._plain
        assert plain is not None  # a SQLite file: set in __init__
        return await asyncio.get_running_loop().run_in_executor(
            self._plain_thread, lambda: _in_transaction(plain, work)
        )

    async def _inline_write(self, work: Callable[[Connection], T]) -> T:
        """SQLite file, urgent: on the loop's thread. When another process (the CLI, say)
        holds the write lock, the work is run again on the writer thread, which waits for it."""
        assert self._plain is not None
        async with self._turn():
            try:
                if self._inline is None:
                    # One connection kept: a pool check-out and its reset cost more than the
                    # insert. It must never wait in SQLite's busy handler, which would block
                    # the whole loop: busy_timeout 0 makes it fail at once instead.
                    self._inline = self._plain.connect()
                    driver = self._inline.connection.driver_connection
                    assert driver is not None  # just connected
                    driver.execute("PRAGMA busy_timeout=0")  # on the driver: no BEGIN for it
                with self._inline.begin():
                    return work(self._inline)
            except OperationalError as exc:
                if getattr(exc.orig, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
                    raise
            return await self._on_writer_thread(work)

    async def _kept_write(self, work: Callable[[Connection], T]) -> T:
        """PostgreSQL, urgent: one kept connection in autocommit, where the server commits the
        single statement atomically and durably. A dropped connection is replaced once."""
        async with self._kept_lock:
            for attempt in (1, 2):
                if self._kept is None:
                    connection = await self.engine.connect()
                    self._kept = await connection.execution_options(isolation_level="AUTOCOMMIT")
                try:
                    async with self._kept.begin():
                        return await self._kept.run_sync(work)
                except DBAPIError as exc:
                    if not exc.connection_invalidated or attempt == 2:
                        raise
                    log.warning("the inbox's database connection was lost; reconnecting")
                    await self._close_kept()
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def _close_kept(self) -> None:
        connection, self._kept = self._kept, None
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
        await self._close_kept()
        await self.engine.dispose()
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._plain is not None and self._plain_thread is not None:
            plain = self._plain
            await asyncio.get_running_loop().run_in_executor(self._plain_thread, plain.dispose)
            self._plain_thread.shutdown(wait=True)
            self._plain = self._plain_thread = None


def _statements_only(work: Callable[[Connection], T], connection: Connection) -> T:
    result = work(connection)
    if inspect.iscoroutine(result):
        # A lambda around an async function looks like statement work: say so, not hang.
        result.close()
        raise TypeError(
            "write() was given a plain function returning a coroutine; pass the async def"
        )
    return result


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

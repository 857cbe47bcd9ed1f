"""The application: one event loop running the database, channels, workers and web server."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.web import build_web_app
from channels import build_channels
from core.channel import Channel
from core.clock import Clock, SystemClock
from core.config import Settings
from core.context import Context
from core.desk import Desk
from core.pages.form import CHANNEL as PAGE_CHANNEL
from core.pages.form import PageFormChannel
from core.promises.loop import PromiseLoop
from core.storage.db import Database

log = logging.getLogger("tidings")


class PortInUse(RuntimeError):
    """A port Tidings listens on is taken, most often by another `tidings run`."""

    def __init__(self, what: str, key: str, host: str, port: int) -> None:
        super().__init__(
            f"{what} cannot listen on {host}:{port}: the port is already in use (is another "
            f"`tidings run` running?). Stop that process, or set {key} to a free port."
        )


def _port_taken(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE


class App:
    """`async with App(settings) as app:` starts everything enabled; leaving stops it in reverse."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        channels: Sequence[Channel] | None = None,
        background: bool = True,
        web_enabled: bool = True,
    ) -> None:
        self.settings = settings
        self.ctx = Context(settings, clock or SystemClock())
        self.db = Database(settings.database.url)
        built = list(channels) if channels is not None else build_channels(settings)
        self.channels: dict[str, Channel] = {channel.name: channel for channel in built}
        # The ticket page's posts come in through the inbox as a channel of the desk's own;
        # it is no platform, so it has no health of its own and is not started.
        self.desk = Desk(self.db, self.ctx, {**self.channels, PAGE_CHANNEL: PageFormChannel()})
        self.promises = PromiseLoop(self.db, self.ctx)
        self.background = background
        self.web_enabled = web_enabled
        self.web_app: web.Application = build_web_app(self)
        self.web_port: int | None = None
        self._runner: web.AppRunner | None = None
        self._promises: asyncio.Task[None] | None = None
        self._started: list[Channel] = []

    @property
    def intake(self) -> Desk:
        return self.desk

    async def __aenter__(self) -> App:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        await self.db.upgrade()
        log.info("database ready: %s", _safe_url(self.db.url))
        for channel in self.channels.values():
            try:
                await channel.start(self.desk)
            except Exception as exc:
                self._raise_if_port_taken(channel.name, exc)
                raise
            self._started.append(channel)
            log.info("channel %s started%s", channel.name, _describe(channel))
        if self.web_enabled:
            self._runner = web.AppRunner(self.web_app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.settings.web.host, self.settings.web.port)
            try:
                await site.start()
            except OSError as exc:
                self._raise_if_port_taken("web", exc)
                raise
            server = getattr(site, "_server", None)
            sockets = getattr(server, "sockets", None) or []
            self.web_port = sockets[0].getsockname()[1] if sockets else self.settings.web.port
            log.info("web server on http://%s:%s", self.settings.web.host, self.web_port)
        if self.background:
            await self.desk.start()
            self._promises = asyncio.create_task(self._promise_loop(), name="tidings-promises")
            log.info(
                "workers running: inbox, delivery, promises (tick %ss)",
                self.settings.reminders.tick.total_seconds(),
            )

    def _raise_if_port_taken(self, part: str, exc: BaseException) -> None:
        """Turn "address already in use" (however deep a library wrapped it) into a sentence
        naming the port and the setting that chooses it."""
        seen: BaseException | None = exc
        for _ in range(5):
            if seen is None or _port_taken(seen):
                break
            seen = seen.__cause__ or seen.__context__
        if seen is None or not _port_taken(seen):
            return
        section = getattr(self.settings, part, None)
        host, port = getattr(section, "host", "?"), getattr(section, "port", 0)
        raise PortInUse(f"the {part} server", f"{part}.port", host, port) from exc

    def loops(self) -> list[asyncio.Task[None]]:
        """Every background loop of this process that should be running now (for /healthz)."""
        tasks = self.desk.loops()
        if tasks and self._promises is not None:
            tasks.append(self._promises)
        return tasks

    async def stop(self) -> None:
        await self.desk.stop()
        if self._promises is not None:
            self._promises.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._promises
            self._promises = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for channel in reversed(self._started):
            try:
                await channel.stop()
            except Exception:
                log.exception("channel %s did not stop cleanly", channel.name)
        self._started = []
        await self.db.dispose()

    async def drain(self, rounds: int = 20) -> None:
        """Process the inbox, run one promise tick, deliver what is due; until nothing moves."""
        await self.promises.tick()
        for _ in range(rounds):
            if not await self.desk.step():
                return
        raise RuntimeError(f"drain did not settle in {rounds} rounds")

    async def list_tickets(self, status: str | None = None) -> list[dict[str, Any]]:
        return await self.desk.list_tickets(status)

    async def show_ticket(self, number: int) -> dict[str, Any] | None:
        return await self.desk.show_ticket(number)

    async def problems(self) -> dict[str, str]:
        """What is unhealthy, by component, for /healthz."""
        found: dict[str, str] = {}
        database = await self.db.ping()
        if database:
            found["database"] = database
        for channel in self.channels.values():
            problem = channel.problem()
            if problem:
                found[channel.name] = problem
        return found

    async def _promise_loop(self) -> None:
        tick = self.settings.reminders.tick.total_seconds()
        while True:
            try:
                await self.promises.tick()
            except Exception:
                log.exception("promise tick failed; next tick retries")
            await asyncio.sleep(tick)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _describe(channel: Channel) -> str:
    where = getattr(channel, "address", None)
    return f" on {where}" if where else ""

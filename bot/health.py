"""/healthz: every part's state; 503 only when Tidings itself cannot work.

The database and the internal loops are Tidings itself: if one fails, a restart may help, so the
answer is 503. A chat platform or mail relay that is down is somebody else's outage: the answer
is 200 with status "degraded" and the problem named, so an orchestrator does not restart a
healthy process over a Slack incident.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from bot.app import App


def _loop_problem(task: asyncio.Task[None]) -> str | None:
    if not task.done():
        return None
    if task.cancelled():
        return "stopped (cancelled)"
    error = task.exception()
    return f"stopped: {error!r}" if error else "stopped"


async def health(app: App) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): `parts` has every part with "ok" or its problem."""
    parts: dict[str, str] = {}
    fatal: dict[str, str] = {}
    degraded: dict[str, str] = {}
    database = await app.db.ping()
    parts["database"] = database or "ok"
    if database:
        fatal["database"] = database
    # Only loops that should be running: during shut-down a finished loop is no failure.
    for task in app.loops():
        name = "loop:" + task.get_name().removeprefix("tidings-")
        problem = _loop_problem(task)
        parts[name] = problem or "ok"
        if problem:
            fatal[name] = problem
    for channel in app.channels.values():
        problem = channel.problem()
        parts[channel.name] = problem or "ok"
        if problem:
            degraded[channel.name] = problem
    status = "unhealthy" if fatal else "degraded" if degraded else "ok"
    body = {
        "status": status,
        "problems": {**fatal, **degraded},
        "parts": parts,
        "channels": sorted(app.channels),
    }
    return (503 if fatal else 200), body


def healthz_handler(app: App) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def healthz(_: web.Request) -> web.Response:
        code, body = await health(app)
        return web.json_response(body, status=code, headers={"Cache-Control": "no-store"})

    return healthz

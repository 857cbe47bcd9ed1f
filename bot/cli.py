"""The `tidings` command line: run, db upgrade, tickets, agent, check-config."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from core.config import ConfigError, Settings, format_duration, load_settings
from core.context import Context
from core.desk import Desk
from core.storage.db import Database


def _parser() -> argparse.ArgumentParser:
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "--config", metavar="PATH", help="TOML file (else $TIDINGS_CONFIG, else defaults)"
    )
    parser = argparse.ArgumentParser(
        prog="tidings", description="Help-desk intake that keeps customers informed."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", parents=[config], help="run everything that is enabled")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", parents=[config], help="apply migrations")
    tickets = sub.add_parser("tickets", help="look at tickets")
    t_sub = tickets.add_subparsers(dest="tickets_command", required=True)
    listing = t_sub.add_parser("list", parents=[config], help="list tickets")
    listing.add_argument("--status", choices=["new", "open", "waiting", "resolved", "closed"])
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    show = t_sub.add_parser("show", parents=[config], help="one ticket with its timeline")
    show.add_argument("ticket", help="T-42, #42 or 42")
    show.add_argument("--json", action="store_true", help="print a JSON object")
    agent = sub.add_parser("agent", parents=[config], help="run agent command-grammar words")
    agent.add_argument("--as", dest="agent", required=True, metavar="AGENT")
    agent.add_argument("words", nargs=argparse.REMAINDER, help='e.g. reply T-1 "On it."')
    sub.add_parser("check-config", parents=[config], help="validate and print the configuration")
    _add_stats_parser(sub, config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 2
    handlers = {
        "run": _run,
        "db": _db_upgrade,
        "tickets": _tickets,
        "agent": _agent,
        "check-config": _check_config,
        "stats": _stats,
    }
    try:
        return handlers[args.command](settings, args)
    except KeyboardInterrupt:
        return 130


def _run(settings: Settings, _: argparse.Namespace) -> int:
    from core.logs import configure_logging

    configure_logging(settings.log)  # [log] level and format (text or JSON lines)
    from bot.app import App

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with App(settings):
            logging.getLogger("tidings").info("Tidings is running; Ctrl-C stops it")
            await stop.wait()
            logging.getLogger("tidings").info("stopping")

    asyncio.run(serve())
    return 0


def _db_upgrade(settings: Settings, _: argparse.Namespace) -> int:
    async def upgrade() -> None:
        db = Database(settings.database.url)
        try:
            await db.upgrade()
        finally:
            await db.dispose()

    asyncio.run(upgrade())
    print("database is up to date")
    return 0


async def _with_desk(settings: Settings, work: Any) -> Any:
    db = Database(settings.database.url)
    try:
        if db.is_sqlite:
            await db.upgrade()
        desk = Desk(db, Context(settings), {})
        return await work(desk)
    finally:
        await db.dispose()


def _tickets(settings: Settings, args: argparse.Namespace) -> int:
    if args.tickets_command == "list":
        tickets = asyncio.run(_with_desk(settings, lambda desk: desk.list_tickets(args.status)))
        if args.json:
            print(json.dumps(tickets, indent=2, ensure_ascii=False))
        elif not tickets:
            print("no tickets")
        for t in [] if args.json else tickets:
            print(f"{t['ref']:>7}  {t['status']:<8} {t['priority']:<6} {t['channel']:<8} "
                  f"{t['subject'][:60]}  ({t['assignee'] or 'unassigned'})")  # fmt: skip
        return 0
    from core.commands.grammar import CommandError, parse_ticket

    try:
        number = parse_ticket(args.ticket)
    except CommandError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 2
    ticket = asyncio.run(_with_desk(settings, lambda desk: desk.show_ticket(number)))
    if ticket is None:
        print(f"tidings: there is no ticket T-{number}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(ticket, indent=2, ensure_ascii=False))
        return 0
    print(f"{ticket['ref']} [{ticket['status']}, {ticket['priority']}] {ticket['subject']}")
    requester = ticket["requester"]
    print(f"from {requester['name'] or requester['address']} on {ticket['channel']}; "
          f"assignee {ticket['assignee'] or 'nobody'}; eta {ticket['eta'] or 'none'}; "
          f"next update due {ticket['next_update_due'] or 'none'}")  # fmt: skip
    for event in ticket["events"]:
        marker = "  " if event["visibility"] == "public" else "🔒"
        print(f"\n{event['at']} {marker} {event['kind']} · {event['author']}")
        print("    " + event["text"].replace("\n", "\n    "))
    return 0


def _agent(settings: Settings, args: argparse.Namespace) -> int:
    words = " ".join(args.words).strip()
    if settings.agents and args.agent not in settings.agents:
        known = ", ".join(sorted(settings.agents))
        print(f"tidings: {args.agent} is not a configured agent (agents: {known})", file=sys.stderr)
        return 2
    reply = asyncio.run(_with_desk(settings, lambda desk: desk.run_as(args.agent, words)))
    print(reply.text, file=sys.stdout if reply.ok else sys.stderr)
    return 0 if reply.ok else 1


def _check_config(settings: Settings, _: argparse.Namespace) -> int:
    enabled = [name for name in ("email", "slack", "discord") if getattr(settings, name).enabled]
    problems = []
    if settings.slack.enabled and not settings.slack.bot_token:
        problems.append("slack.enabled but slack.bot_token is empty")
    if (
        settings.slack.enabled
        and settings.slack.mode == "http"
        and not settings.slack.signing_secret
    ):
        problems.append("slack.mode is http but slack.signing_secret is empty")
    if settings.slack.enabled and settings.slack.mode == "socket" and not settings.slack.app_token:
        problems.append("slack.mode is socket but slack.app_token is empty")
    if settings.discord.enabled and not settings.discord.token:
        problems.append("discord.enabled but discord.token is empty")
    try:
        Context(settings)
    except Exception as exc:  # a bad timezone or opening hours
        problems.append(f"reminders.business_hours: {exc}")
    for problem in problems:
        print(f"tidings: {problem}", file=sys.stderr)
    if problems:
        return 2
    cadence = settings.reminders.cadence
    print(f"configuration OK; channels enabled: {', '.join(enabled) or 'none'}")
    print(f"database: {settings.database.url.split('@')[-1]}")
    print("cadence: " + ", ".join(
        f"{name} {format_duration(getattr(cadence, name))}"
        for name in ("urgent", "high", "normal", "low")
    ))  # fmt: skip
    print(f"agents: {', '.join(sorted(settings.agents)) or 'none configured'}")
    return 0


# -- tidings stats ----------------------------------------------------------------------------


def _add_stats_parser(sub: Any, config: argparse.ArgumentParser) -> None:
    stats = sub.add_parser("stats", parents=[config], help="the desk's figures for a period")
    stats.add_argument("--since", default="30d", help='"30d", "12h", "2w" or a date (2026-11-01)')
    stats.add_argument("--json", action="store_true", help="print a JSON object")


def _stats(settings: Settings, args: argparse.Namespace) -> int:
    from core.clock import SystemClock
    from core.stats.figures import summary_lines
    from core.stats.report import stats_figures
    from core.stats.window import StatsError, parse_window

    now = SystemClock().now()
    try:
        parse_window(args.since, now)  # before touching the database: bad input changes nothing
    except StatsError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 2

    async def figures() -> dict[str, Any]:
        db = Database(settings.database.url)
        try:
            if db.is_sqlite:
                await db.upgrade()
            return await stats_figures(db, now, args.since)
        finally:
            await db.dispose()

    found = asyncio.run(figures())
    print(json.dumps(found, indent=2) if args.json else "\n".join(summary_lines(found)))
    return 0

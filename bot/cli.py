"""The `tidings` command line: run, db upgrade, tickets, incidents, agent, check-config."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from bot.config_report import (
    assign_without_agents,
    config_problems,
    config_summary,
    config_warnings,
)
from bot.ticket_views import ticket_story, ticket_table
from core.agents import CLI, authorise, refusal
from core.channel import Actor
from core.commands.grammar import join_argv
from core.config import ConfigError, Settings, environment_warnings, load_settings
from core.context import Context
from core.desk import Desk
from core.storage.db import Database
from core.storage.models import Status
from core.texts import Texts


def _version() -> str:
    try:
        return metadata.version("tidings")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _agent_help() -> str:
    from core.commands.grammar import USAGE

    verbs = "\n".join(f"  {usage}" for usage in USAGE.values())
    return (
        f"verbs:\n{verbs}\n\n<ticket> is T-42, #42 or 42 (reply, eta, wait, resolve and show also "
        'take an incident, INC-7); <when> is "in 2h", "tomorrow 15:00", '
        '"next monday", "1 dec noon", "eod" or "2026-12-01 09:00".\n'
        "Each argument is one unit: quote a <what> of several words, e.g.\n"
        '  tidings agent --as alice wait T-1 "the vendor\'s fix" Expected Tuesday.'
    )


def _parser() -> argparse.ArgumentParser:
    # --config is accepted before the subcommand and after it; SUPPRESS keeps a subcommand that
    # was not given one from overwriting the value given before it.
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="TOML file (else $TIDINGS_CONFIG, else defaults)")  # fmt: skip
    parser = argparse.ArgumentParser(
        prog="tidings", description="Help-desk intake that keeps customers informed."
    )
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="TOML file (else $TIDINGS_CONFIG, else defaults)")  # fmt: skip
    parser.add_argument("--version", action="version", version=f"tidings {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", parents=[config], help="run everything that is enabled")
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", parents=[config], help="apply migrations")
    tickets = sub.add_parser("tickets", help="look at tickets")
    t_sub = tickets.add_subparsers(dest="tickets_command", required=True)
    listing = t_sub.add_parser("list", parents=[config], help="list tickets")
    listing.add_argument("--status", choices=[str(status) for status in Status])
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.add_argument("--search", metavar="WORDS", help="subject or a message holds every word")
    show = t_sub.add_parser("show", parents=[config], help="one ticket with its timeline")
    show.add_argument("ticket", help="T-42, #42 or 42")
    show.add_argument("--json", action="store_true", help="print a JSON object")
    agent = sub.add_parser(
        "agent", parents=[config], help="run agent command-grammar words",
        epilog=_agent_help(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    agent.add_argument("--as", dest="agent", required=True, metavar="AGENT")
    agent.add_argument("words", nargs=argparse.REMAINDER, help='e.g. reply T-1 "On it."')
    sub.add_parser("check-config", parents=[config], help="validate and print the configuration")
    _add_stats_parser(sub, config)
    _add_incidents_parser(sub, config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 2
    for warning in environment_warnings():
        print(f"tidings: warning: {warning}", file=sys.stderr)
    handlers = {
        "run": _run,
        "db": _db_upgrade,
        "tickets": _tickets,
        "agent": _agent,
        "check-config": _check_config,
        "stats": _stats,
        "incidents": _incidents,
    }
    try:
        return handlers[args.command](settings, args)
    except KeyboardInterrupt:
        return 130


def _run(settings: Settings, _: argparse.Namespace) -> int:
    from core.logs import configure_logging

    configure_logging(settings.log)  # [log] level and format (text or JSON lines)
    from bot.app import App, PortInUse

    for warning in config_warnings(settings):
        logging.getLogger("tidings").warning("%s", warning)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with App(settings):
            logging.getLogger("tidings").info("Tidings is running; Ctrl-C stops it")
            await stop.wait()
            logging.getLogger("tidings").info("stopping")

    try:
        asyncio.run(serve())
    except PortInUse as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 2
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
    texts = Texts.for_settings(settings)
    if args.tickets_command == "list" and args.search is not None:
        return _search(settings, args, texts)
    if args.tickets_command == "list":
        tickets = asyncio.run(_with_desk(settings, lambda desk: desk.list_tickets(args.status)))
        if args.json:
            print(json.dumps(tickets, indent=2, ensure_ascii=False))
        else:
            print("\n".join(ticket_table(texts, tickets)))
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
    else:
        print("\n".join(ticket_story(texts, ticket)))
    return 0


def _search(settings: Settings, args: argparse.Namespace, texts: Texts) -> int:
    """`tickets list --search WORDS`: from the text index, newest first."""
    from core.commands.grammar import CommandError
    from core.commands.search import search_summaries, search_words

    try:
        search_words(args.search)  # before touching the database: bad input changes nothing
    except CommandError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 2

    async def found(desk: Desk) -> list[dict[str, Any]]:
        async with desk.db.sessions() as session:
            return await search_summaries(session, args.search)

    tickets = asyncio.run(_with_desk(settings, found))
    tickets = [t for t in tickets if not args.status or t["status"] == args.status]
    print(json.dumps(tickets, indent=2, ensure_ascii=False) if args.json
          else "\n".join(ticket_table(texts, tickets)))  # fmt: skip
    return 0


def _agent(settings: Settings, args: argparse.Namespace) -> int:
    words = join_argv(args.words)
    refused = assign_without_agents(settings, args.words)
    if refused:
        print(f"tidings: {refused}", file=sys.stderr)
        return 2
    if authorise(settings, CLI, args.agent) is None:  # checked here too only for the exit code
        print(f"tidings: {refusal(CLI, args.agent)}", file=sys.stderr)
        return 2
    actor = Actor(CLI, args.agent, args.agent)
    reply = asyncio.run(_with_desk(settings, lambda desk: desk.command(actor, words)))
    print(reply.text, file=sys.stdout if reply.ok else sys.stderr)
    return 0 if reply.ok else 1


def _check_config(settings: Settings, _: argparse.Namespace) -> int:
    problems = config_problems(settings)
    for problem in problems:
        print(f"tidings: {problem}", file=sys.stderr)
    if problems:
        return 2
    for warning in config_warnings(settings):
        print(f"tidings: warning: {warning}", file=sys.stderr)
    print("\n".join(config_summary(settings)))
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


# -- tidings incidents ------------------------------------------------------------------------


def _add_incidents_parser(sub: Any, config: argparse.ArgumentParser) -> None:
    incidents = sub.add_parser("incidents", help="look at incidents")
    i_sub = incidents.add_subparsers(dest="incidents_command", required=True)
    listing = i_sub.add_parser("list", parents=[config], help="every incident, newest first")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    show = i_sub.add_parser("show", parents=[config], help="one incident with its updates")
    show.add_argument("incident", help="INC-7")
    show.add_argument("--json", action="store_true", help="print a JSON object")


def _incidents(settings: Settings, args: argparse.Namespace) -> int:
    from core.commands.grammar import CommandError, parse_incident
    from core.incidents.views import incident_lines, list_incidents, show_incident

    texts = Texts.for_settings(settings)
    if args.incidents_command == "list":

        async def everything(desk: Desk) -> Any:
            async with desk.db.sessions() as session:
                return await list_incidents(session)

        incidents = asyncio.run(_with_desk(settings, everything))
        if args.json:
            print(json.dumps(incidents, indent=2, ensure_ascii=False))
        else:
            lines = [line for view in incidents for line in incident_lines(texts.when, view)[:1]]
            print("\n".join(lines) or "no incidents")
        return 0
    try:
        number = parse_incident(args.incident)
    except CommandError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 2

    async def one(desk: Desk) -> Any:
        async with desk.db.sessions() as session:
            return await show_incident(session, number)

    incident = asyncio.run(_with_desk(settings, one))
    if incident is None:
        print(f"tidings: there is no incident INC-{number}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(incident, indent=2, ensure_ascii=False))
    else:
        print("\n".join(incident_lines(texts.when, incident)))
    return 0

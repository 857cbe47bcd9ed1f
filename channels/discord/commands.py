"""The /ticket slash command group: `new` for everyone, the agent grammar as typed subcommands."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal, cast

import discord
from discord import app_commands

from channels.discord.translate import command_words
from core.commands.saved import saved_reply_names

if TYPE_CHECKING:
    from channels.discord.client import TidingsClient

Level = Literal["urgent", "high", "normal", "low"]
ListFilter = Literal["mine", "open", "overdue", "waiting"]
TICKET = "Ticket number, e.g. T-42"


def _client(interaction: discord.Interaction[Any]) -> TidingsClient:
    return cast("TidingsClient", interaction.client)


async def ticket_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete: active tickets whose ref or subject matches what was typed so far; for
    agents only (anyone else would read other people's ticket subjects)."""
    client = _client(interaction)
    if client.intake is None or not client.is_agent(interaction.user):
        return []
    found = await client.intake.search_tickets(current.strip(), limit=25)
    return [
        app_commands.Choice(name=f"{ref} {subject}"[:100], value=ref) for ref, subject in found[:25]
    ]


async def incident_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete: open incidents whose ref or title matches; for agents only."""
    client = _client(interaction)
    if client.intake is None or not client.is_agent(interaction.user):
        return []
    found = await client.intake.search_incidents(current.strip(), limit=25)
    return [
        app_commands.Choice(name=f"{ref} {title}"[:100], value=ref) for ref, title in found[:25]
    ]


async def agent_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    client = _client(interaction)
    if not client.is_agent(interaction.user):
        return []
    names = sorted(client.settings.agents)
    wanted = current.strip().lower()
    return [app_commands.Choice(name=n, value=n) for n in names if wanted in n.lower()][:25]


async def saved_reply_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete for `reply`'s text: once it starts with `@`, the saved replies whose name
    starts with what follows (the grammar's `reply T-42 @vpn-reset`); plain text gets none, so
    Discord leaves what the agent types alone. Agents only: the names can be internal."""
    client = _client(interaction)
    typed = current.strip()
    if not typed.startswith("@") or not client.is_agent(interaction.user):
        return []
    wanted = typed[1:].lower()
    names = await asyncio.to_thread(saved_reply_names, client.settings.replies.dir)
    return [
        app_commands.Choice(name=f"@{name}", value=f"@{name}")
        for name in names
        if name.lower().startswith(wanted)
    ][:25]


async def _run(interaction: discord.Interaction[Any], sub: str, **options: str | None) -> None:
    await _client(interaction).run_command(interaction, command_words(sub, options))


class TicketGroup(app_commands.Group):
    """`/ticket …`; every subcommand answers only the person who used it (ephemeral)."""

    def __init__(self) -> None:
        super().__init__(name="ticket", description="Tidings help desk")

    @app_commands.command(name="new", description="Report a problem to the help desk")
    async def new(self, interaction: discord.Interaction[Any]) -> None:
        from channels.discord.views import IntakeModal

        await interaction.response.send_modal(IntakeModal(_client(interaction).form))

    @app_commands.command(description="Agents: public reply to the customer")
    @app_commands.describe(
        ticket=TICKET, text="What the customer will read, or @name for a saved reply"
    )
    @app_commands.autocomplete(ticket=ticket_choices, text=saved_reply_choices)
    async def reply(self, interaction: discord.Interaction[Any], ticket: str, text: str) -> None:
        await _run(interaction, "reply", ticket=ticket, text=text)

    @app_commands.command(description="Agents: internal note (the customer never sees it)")
    @app_commands.describe(ticket=TICKET, text="The note")
    @app_commands.autocomplete(ticket=ticket_choices)
    async def note(self, interaction: discord.Interaction[Any], ticket: str, text: str) -> None:
        await _run(interaction, "note", ticket=ticket, text=text)

    @app_commands.command(description="Agents: tell the customer when it will be fixed")
    @app_commands.describe(
        ticket=TICKET, when='"tomorrow 15:00", "in 2h", "2026-12-01 09:00"', text="Optional message"
    )
    @app_commands.autocomplete(ticket=ticket_choices)
    async def eta(
        self, interaction: discord.Interaction[Any], ticket: str, when: str, text: str | None = None
    ) -> None:
        await _run(interaction, "eta", ticket=ticket, when=when, text=text)

    @app_commands.command(description="Agents: waiting on a third party; the customer is told")
    @app_commands.describe(ticket=TICKET, what="What we wait for", text="Optional message")
    @app_commands.autocomplete(ticket=ticket_choices)
    async def wait(
        self, interaction: discord.Interaction[Any], ticket: str, what: str, text: str | None = None
    ) -> None:
        await _run(interaction, "wait", ticket=ticket, what=what, text=text)

    @app_commands.command(description="Agents: resolve, with an optional closing message")
    @app_commands.describe(ticket=TICKET, text="Optional closing message")
    @app_commands.autocomplete(ticket=ticket_choices)
    async def resolve(
        self, interaction: discord.Interaction[Any], ticket: str, text: str | None = None
    ) -> None:
        await _run(interaction, "resolve", ticket=ticket, text=text)

    @app_commands.command(description="Agents: close a ticket")
    @app_commands.describe(ticket=TICKET)
    @app_commands.autocomplete(ticket=ticket_choices)
    async def close(self, interaction: discord.Interaction[Any], ticket: str) -> None:
        await _run(interaction, "close", ticket=ticket)

    @app_commands.command(description="Agents: reopen a ticket")
    @app_commands.describe(ticket=TICKET)
    @app_commands.autocomplete(ticket=ticket_choices)
    async def reopen(self, interaction: discord.Interaction[Any], ticket: str) -> None:
        await _run(interaction, "reopen", ticket=ticket)

    @app_commands.command(description="Agents: assign a ticket to yourself")
    @app_commands.describe(ticket=TICKET)
    @app_commands.autocomplete(ticket=ticket_choices)
    async def take(self, interaction: discord.Interaction[Any], ticket: str) -> None:
        await _run(interaction, "take", ticket=ticket)

    @app_commands.command(description="Agents: assign a ticket to an agent")
    @app_commands.describe(ticket=TICKET, agent="Agent name from the configuration")
    @app_commands.autocomplete(ticket=ticket_choices, agent=agent_choices)
    async def assign(self, interaction: discord.Interaction[Any], ticket: str, agent: str) -> None:
        await _run(interaction, "assign", ticket=ticket, agent=agent)

    @app_commands.command(description="Agents: set the priority")
    @app_commands.describe(ticket=TICKET, level="urgent, high, normal or low")
    @app_commands.autocomplete(ticket=ticket_choices)
    async def priority(
        self, interaction: discord.Interaction[Any], ticket: str, level: Level
    ) -> None:
        await _run(interaction, "priority", ticket=ticket, level=level)

    @app_commands.command(description="Agents: show a ticket and its timeline")
    @app_commands.describe(ticket=TICKET)
    @app_commands.autocomplete(ticket=ticket_choices)
    async def show(self, interaction: discord.Interaction[Any], ticket: str) -> None:
        await _run(interaction, "show", ticket=ticket)

    @app_commands.command(name="list", description="Agents: list tickets")
    @app_commands.describe(filter="mine, open, overdue or waiting")
    async def list_(
        self, interaction: discord.Interaction[Any], filter: ListFilter | None = None
    ) -> None:
        await _run(interaction, "list", filter=filter)

    @app_commands.command(description="Agents: tickets whose subject or messages hold every word")
    @app_commands.describe(words="The words to look for")
    async def search(self, interaction: discord.Interaction[Any], words: str) -> None:
        await _run(interaction, "search", words=words)

    @app_commands.command(description="Agents: the saved replies (use one as reply text @name)")
    async def replies(self, interaction: discord.Interaction[Any]) -> None:
        await _run(interaction, "replies")

    @app_commands.command(description="Agents: two tickets' requesters are one person")
    @app_commands.describe(ticket=TICKET, other="The other ticket, e.g. T-43")
    @app_commands.autocomplete(ticket=ticket_choices, other=ticket_choices)
    async def same(self, interaction: discord.Interaction[Any], ticket: str, other: str) -> None:
        await _run(interaction, "same", ticket=ticket, other=other)

    # Incidents and similar tickets (17 subcommands so far; Discord allows 25 in a group).
    @app_commands.command(description="Agents: open an incident (public); the answer names it")
    @app_commands.describe(title="What is broken, as customers read it", service="Optional")
    async def incident(
        self, interaction: discord.Interaction[Any], title: str, service: str | None = None
    ) -> None:
        await _run(interaction, "incident", title=title, service=service)

    @app_commands.command(description="Agents: attach a ticket to an open incident")
    @app_commands.describe(ticket=TICKET, incident="Incident, e.g. INC-7")
    @app_commands.autocomplete(ticket=ticket_choices, incident=incident_choices)
    async def link(self, interaction: discord.Interaction[Any], ticket: str, incident: str) -> None:
        await _run(interaction, "link", ticket=ticket, incident=incident)

    @app_commands.command(description="Agents: detach a ticket from its incident")
    @app_commands.describe(ticket=TICKET)
    @app_commands.autocomplete(ticket=ticket_choices)
    async def unlink(self, interaction: discord.Interaction[Any], ticket: str) -> None:
        await _run(interaction, "unlink", ticket=ticket)

    @app_commands.command(description="Agents: open tickets and incidents that look like this one")
    @app_commands.describe(ticket=TICKET)
    @app_commands.autocomplete(ticket=ticket_choices)
    async def similar(self, interaction: discord.Interaction[Any], ticket: str) -> None:
        await _run(interaction, "similar", ticket=ticket)

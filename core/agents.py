"""Who may act as an agent: the one check every channel, the CLI and the core itself call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from core.config import Settings

CLI = "cli"  # the command line: whoever runs it names a configured agent
EMAIL = "email"  # an agent's mail address, checked together with a signed reply token
# The keys of [agents.<name>] that name the agent on a platform (the others are settings).
PLATFORM_IDS = ("slack", "discord", EMAIL)

NOT_AN_AGENT = (
    "Ticket commands are for the support team, and you are not set up as an agent. "
    "If you need help, just write to us and we will open a ticket for you."
)


class Recognised(StrEnum):
    """How an agent was recognised."""

    BY_ID = "id"  # their platform id is listed under [agents.<name>]
    BY_ROLE = "role"  # they hold one of the channel's agent roles (Discord `agent_roles`)
    BY_NAME = "name"  # the command line named a configured agent


@dataclass(frozen=True, slots=True)
class Agent:
    """An authorised agent and the stable name their actions are recorded under."""

    name: str
    recognised: Recognised


def role_agent_name(channel: str, user_id: str) -> str:
    """The recorded name of an agent known only by role: their platform id, which never changes
    (display and user names do, and two people may share one)."""
    return f"{channel}:{user_id}"


@dataclass(frozen=True)
class Roster:
    """The agents as configured: named agents' platform ids, and the roles that make agents."""

    names: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (channel, id) -> name
    configured: frozenset[str] = frozenset()  # every [agents.<name>]
    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)  # channel -> role ids

    @classmethod
    def from_settings(cls, settings: Settings) -> Roster:
        names: dict[tuple[str, str], str] = {}
        for name, ids in settings.agents.items():
            for channel in PLATFORM_IDS:
                user_id = getattr(ids, channel)
                if user_id:
                    names[(channel, _folded(channel, user_id))] = name
        roles = {"discord": frozenset(settings.discord.agent_roles)}
        return cls(names, frozenset(settings.agents), roles)

    def authorise(self, channel: str, user_id: str, roles: Iterable[str] = ()) -> Agent | None:
        """The agent behind a platform identity, or None for anyone else."""
        if not user_id:
            return None
        if channel == CLI:
            return Agent(user_id, Recognised.BY_NAME) if user_id in self.configured else None
        name = self.names.get((channel, _folded(channel, user_id)))
        if name is not None:
            return Agent(name, Recognised.BY_ID)
        if self.roles.get(channel, frozenset()) & set(roles):
            return Agent(role_agent_name(channel, user_id), Recognised.BY_ROLE)
        return None


def _folded(channel: str, user_id: str) -> str:
    """Mail addresses compare without case (what mail clients and servers do in practice)."""
    return user_id.strip().lower() if channel == EMAIL else user_id


def mailboxes(settings: Settings) -> dict[str, str]:
    """Each agent with an email address: {name: address}, addresses in lower case."""
    return {name: ids.email.strip().lower() for name, ids in settings.agents.items() if ids.email}


def authorise(
    settings: Settings, channel: str, user_id: str, roles: Iterable[str] = ()
) -> Agent | None:
    """The one agent check: a configured agent by platform id (or by name on the command line),
    or a member of an agent role; None for everyone else."""
    return Roster.from_settings(settings).authorise(channel, user_id, roles)


def refusal(channel: str, user_id: str) -> str:
    """What someone who is not an agent is told: on the CLI the problem and the fix."""
    if channel == CLI:
        return f"{user_id} is not a configured agent; add [agents.{user_id}] to the config"
    return NOT_AN_AGENT

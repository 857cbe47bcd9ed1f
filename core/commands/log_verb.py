"""`log <who> <text>`: a call solved on the spot, on the record and in every figure, unsent."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.channel import CommandReply, Contact, InboundMessage, ReplyTarget
from core.commands.act import Act
from core.commands.grammar import USAGE, CommandError
from core.intake.opening import author_of, body_of, priority_of, subject_of, upsert_contacts
from core.storage.models import EventKind, Status, Ticket, Visibility
from core.tickets.timeline import add_event

LOG_CHANNEL = "log"  # the channel of a requester known only by name: nothing is ever sent there
NAME_MAX = 100
_SLACK_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,20})(?:\|[^>]{0,100})?>$")
_DISCORD_MENTION = re.compile(r"^<@!?(\d{5,25})>$")
_EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[^@\s<>\"]{1,252}\.[^@\s<>\".]{2,63}$")


@dataclass(frozen=True)
class Caller:
    """Who called, as the desk will know them: a contact on a channel."""

    channel: str
    address: str
    name: str = ""


def caller_of(who: str) -> Caller:
    """Read <who>: an email address, a Slack or Discord mention, or a name."""
    if who.startswith("<@") or who.startswith("<#"):
        slack = _SLACK_MENTION.match(who)
        if slack:
            return Caller("slack", slack.group(1))
        discord = _DISCORD_MENTION.match(who)
        if discord:
            return Caller("discord", discord.group(1))
        raise CommandError(f'"{who[:60]}" is not a Slack (<@U123>) or Discord (<@123>) mention')
    if "@" in who:
        if not _EMAIL.match(who):
            raise CommandError(f'"{who[:60]}" is not an email address')
        return Caller("email", who.lower())
    name = " ".join(who.split())
    if not any(character.isalpha() for character in name):
        raise CommandError(f'"{who[:60]}" is not a name; usage: {USAGE["log"]}')
    if len(name) > NAME_MAX:
        raise CommandError(f"the name has {len(name)} characters; at most {NAME_MAX}")
    return Caller(LOG_CHANNEL, name.casefold(), name)


async def log_call(act: Act) -> CommandReply:
    """Open the call's ticket already resolved by the agent: the caller's words, a `logged`
    event, answered and resolved now (so both times count, as zero); no acknowledgement, no
    card, no promise: nobody is told anything."""
    try:
        caller = caller_of(act.command.what)
    except CommandError as exc:
        return CommandReply(False, str(exc))
    now, agent = act.now, act.agent
    # The words read as an inbound message, so subject, body and priority follow the same rules
    # as every ticket's (core.intake.opening).
    said = InboundMessage(
        channel=LOG_CHANNEL, external_id="",
        sender=Contact(caller.channel, caller.address, caller.name),
        reply_target=ReplyTarget(caller.channel, caller.address), text=act.command.text,
    )  # fmt: skip
    connection = await act.session.connection()
    contacts = await connection.run_sync(
        lambda sync: upsert_contacts(sync, [(caller.channel, caller.address, caller.name)], now)
    )
    requester_id, requester = contacts[(caller.channel, caller.address)]
    ticket = Ticket(
        status=Status.RESOLVED.value, priority=priority_of(act.ctx, said), subject=subject_of(said),
        requester_id=requester_id, reply_channel=caller.channel, reply_address=caller.address,
        reply_thread="", waiting_on="", assignee=agent, created_at=now, updated_at=now,
        first_response_at=now, resolved_at=now, next_update_due=None, last_public_at=None,
    )  # fmt: skip
    act.session.add(ticket)
    await act.session.flush()
    await add_event(act.session, ticket, EventKind.CUSTOMER_MESSAGE, body_of(act.ctx, said), now,
                    author=requester or author_of(said), channel=LOG_CHANNEL)  # fmt: skip
    await add_event(act.session, ticket, EventKind.LOGGED,
                    f"Solved on the spot and logged by {agent}; nobody was messaged.", now,
                    visibility=Visibility.INTERNAL, author=agent)  # fmt: skip
    shown = requester or caller.address
    return CommandReply(True, f"logged {ticket.ref} for {shown}: resolved on the spot", ticket.ref)

"""An agent's mail: checked against its signed reply address, then a reply, a note or a command.

The channel could not vouch for who wrote (anyone can write an agent's From address), so a
mail acts only when its From is a configured agent's and it was sent to the reply address of a
notice that agent got about that ticket (core/reply_tokens.py). Then its first line decides:
`note:` makes an internal note, a command of the grammar written in lower case (`eta tomorrow
15:00`, `resolve Fixed`) runs that command on the ticket as that agent, and anything else is a
reply to the customer. A mail that fails the check changes nothing; its sender gets one plain
explanation (never more than one in EXPLAIN_QUIET, so two machines cannot keep each other
busy; mail marked automatic never gets this far: the channel drops it).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.agents import EMAIL, authorise
from core.channel import AgentMessage, Audience, CommandReply, OutboundMessage, ReplyTarget
from core.commands.files import note_with_files, reply_with_files
from core.commands.grammar import parse_ticket
from core.commands.run import TICKET_VERBS, run_words
from core.context import Context
from core.delivery.rows import encode_message, enqueue
from core.intake.outcome import Outcome
from core.reply_tokens import check_token, reply_key
from core.storage.models import OutboxRow, OutboxStatus, Ticket, TicketEvent
from core.tickets.timeline import keep_files

REFUSED = "agent_mail_refused"  # outbox kind: the explanation to a sender whose mail failed
ANSWER = "agent_mail_answer"  # outbox kind: what a command (or a failed reply) said
EXPLAIN_QUIET = timedelta(minutes=10)  # at most one explanation per address in this time
# Ticket verbs a first line may start with. Not `reply` and `note`: a reply is what any other
# text is, and a note is written `note:` (a reply may well begin "note that ...").
MAIL_COMMANDS = frozenset(TICKET_VERBS) - {"reply", "note"}

NO_TOKEN = (
    "Tidings did not act on your mail. It came from an agent's address to the support address "
    "itself, not to the reply address of one of the notices Tidings sends you. Mail from an "
    "agent never opens a ticket, and nothing was sent to any customer.\n\n"
    "To answer a ticket, reply to the notice Tidings mailed you about it, or, if you get a "
    "digest of new tickets, write to the address your digest gives for that ticket "
    '("Answer T-2 by writing to: …"): each such address belongs to you and that ticket only. '
    'Start your text with "note:" for an internal note, or with a command such as "eta '
    'tomorrow 15:00" or "resolve Fixed".'
)
BAD_TOKEN = (
    "Tidings did not act on your mail. The reply address it was sent to was not given to the "
    "address it came from, so it may not act on a ticket. Nothing was changed and nothing was "
    "sent to any customer.\n\n"
    "Answer a ticket by replying to its notice, or by writing to its address in your digest, "
    "from the mailbox the notice or digest was sent to."
)
EMPTY = (
    "Tidings found no text in your mail once the quoted notice and your signature were taken "
    "off, so nothing was done on {ref}."
)


async def apply_agent_mail(ctx: Context, session: AsyncSession, message: AgentMessage) -> Outcome:
    """Check a mail that is an agent's or was sent to an agent reply address, then act on it."""
    checked = await _check(ctx, session, message)
    if isinstance(checked, str):
        return await _refuse(ctx, session, message, checked)
    agent, ticket = checked
    words = command_words(message.text, ticket)
    if words is None:
        await _answer(ctx, session, ticket, message, EMPTY.format(ref=ticket.ref))
        return Outcome(f"agent {agent}: empty mail, nothing done", ticket.id)
    newest = await _newest_event(session, ticket)
    verb, _, after = words.partition(" ")
    if message.attachments and verb in ("reply", "note"):
        # The files go with the reply to the customer (or stay on the note), as from a card
        # thread: within the size limit, and each one that cannot go named to the agents.
        with_files = note_with_files if verb == "note" else reply_with_files
        body = after.partition(" ")[2]
        files = message.attachments
        said = await _run(session, with_files(ctx, session, ticket, agent, body, files))
    else:
        said = await _run(session, run_words(ctx, session, agent, words))
        if said.ok:
            await _record_attachments(session, ticket, agent, newest, message)
    if not said.ok or words.split(None, 1)[0] in MAIL_COMMANDS:
        await _answer(ctx, session, ticket, message, said.text)
    return Outcome(f"agent {agent} by mail: {said.text[:200]}", ticket.id)


async def _check(
    ctx: Context, session: AsyncSession, message: AgentMessage
) -> tuple[str, Ticket] | str:
    """(agent name, ticket) when the sender is an agent and the token is theirs for the
    ticket; else the explanation the sender gets."""
    if not message.reply_token:
        return NO_TOKEN
    agent = authorise(ctx.settings, EMAIL, message.actor.user_id)
    key = reply_key(ctx.settings)
    if agent is None or key is None:
        return BAD_TOKEN
    number = check_token(key, agent.name, message.reply_token)
    ticket = None if number is None else await session.get(Ticket, number, with_for_update=True)
    if ticket is None:
        return BAD_TOKEN
    return agent.name, ticket


def command_words(text: str, ticket: Ticket) -> str | None:
    """The command-grammar words a mail's text stands for on `ticket` (None when empty).

    `note: …` is a note; a first line starting with a ticket verb in lower case is that
    command, the rest of the mail its text; anything else is a reply with the whole text."""
    text = text.strip()
    if not text:
        return None
    first, _, rest = text.partition("\n")
    if first.lower().startswith("note:"):
        body = f"{first[5:]}\n{rest}".strip()
        return f"note {ticket.ref} {body}" if body else None
    verb, _, after = first.strip().partition(" ")
    if verb not in MAIL_COMMANDS:
        return f"reply {ticket.ref} {text}"
    after = _without_ref(after.strip(), ticket)
    return f"{verb} {ticket.ref} {after}\n{rest.strip()}".strip()


def _without_ref(words: str, ticket: Ticket) -> str:
    """`eta T-42 tomorrow` written on T-42's notice: the ticket named again is dropped."""
    head, _, tail = words.partition(" ")
    try:
        same = parse_ticket(head) == ticket.id
    except ValueError:
        same = False
    return tail.strip() if same else words


async def _run(session: AsyncSession, command: Awaitable[CommandReply]) -> CommandReply:
    """Run the command; when it fails, whatever it did is rolled back (the mail still counts
    as processed: the agent is told why it did nothing)."""
    savepoint = await session.begin_nested()
    try:
        said = await command
    except BaseException:
        await savepoint.rollback()
        raise
    if said.ok:
        await savepoint.commit()
    else:
        await savepoint.rollback()
    return said


async def _newest_event(session: AsyncSession, ticket: Ticket) -> int:
    found = await session.scalar(
        select(TicketEvent.id)
        .where(TicketEvent.ticket_id == ticket.id)
        .order_by(TicketEvent.id.desc())
        .limit(1)
    )
    return found or 0


async def _record_attachments(
    session: AsyncSession, ticket: Ticket, agent: str, before: int, message: AgentMessage
) -> None:
    """A command mail's files, recorded on the event the command made (a reply or a note
    sends or keeps its files itself, through core.commands.files)."""
    if not message.attachments:
        return
    event_id = await session.scalar(
        select(TicketEvent.id)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.id > before,
               TicketEvent.author == agent)
        .order_by(TicketEvent.id)
    )  # fmt: skip
    keep_files(session, ticket.id, event_id, message.attachments)


async def _answer(
    ctx: Context, session: AsyncSession, ticket: Ticket, message: AgentMessage, text: str
) -> None:
    """Tell the agent, in their mailbox, what their mail did (or why it did nothing)."""
    await enqueue(ctx, session, ticket, kind=ANSWER, text=text,
                  target=ReplyTarget(EMAIL, message.actor.user_id, ""))  # fmt: skip


async def _refuse(ctx: Context, session: AsyncSession, message: AgentMessage, why: str) -> Outcome:
    """Nothing applied; one plain explanation to the sender, unless one went out lately."""
    address = message.actor.user_id
    now = ctx.now()
    lately = await session.scalar(
        select(OutboxRow.id).where(
            OutboxRow.channel == EMAIL, OutboxRow.address == address,
            OutboxRow.kind == REFUSED, OutboxRow.created_at > now - EXPLAIN_QUIET,
        )
    )  # fmt: skip
    if lately is not None:
        return Outcome(f"refused agent mail from {address} (already explained lately)")
    token = uuid.uuid4().hex
    note = OutboundMessage(
        ticket_ref="", subject=message.subject, text=why, kind=REFUSED, automatic=True,
        token=token, audience=Audience.AGENTS, in_reply_to=message.external_id,
    )  # fmt: skip
    session.add(
        OutboxRow(
            ticket_id=None, event_id=None, contact_id=None, channel=EMAIL, address=address,
            thread="", audience=Audience.AGENTS.value, kind=REFUSED, automatic=True,
            token=token, message=encode_message(note), status=OutboxStatus.PENDING.value,
            attempts=0, next_attempt_at=now, lease_owner="", last_error="", external_id="",
            created_at=now,
        )
    )  # fmt: skip
    return Outcome(f"refused agent mail from {address}: explained")

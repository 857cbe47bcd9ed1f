"""Channel-independent message types and the protocol every channel adapter implements."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """Where a message for a ticket goes: plain data, stored as three columns on the ticket."""

    channel: str  # "email" | "slack" | "discord" | "cli" | any test channel name
    address: str  # email address / Slack channel id / Discord channel id
    thread: str = ""  # email root Message-ID / Slack thread_ts / Discord thread id; "" if none


@dataclass(frozen=True, slots=True)
class Contact:
    """A person on one channel."""

    channel: str
    address: str  # platform user id, or an email address
    name: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with a message; recorded, never silently dropped."""

    name: str
    content_type: str
    size: int
    stored_at: str = ""  # a local path or the platform's URL for the file
    # Why the file's bytes are not kept (too large, the download failed): recorded as a note,
    # so a file is never silently dropped. Empty when all is well.
    problem: str = ""


class FileTooLarge(Exception):
    """A file is larger than `[intake] max_attachment_bytes`; nothing of it is kept."""


class InboundKind(StrEnum):
    """What kind of sender wrote an inbound message, as far as the adapter can tell."""

    MESSAGE = "message"  # a person wrote: may open or join a ticket
    AUTO_REPLY = "auto_reply"  # out-of-office and friends: recorded internally, never answered
    BOUNCE = "bounce"  # delivery report: marks our message failed when it names one of ours
    AUTOMATED = "automated"  # bulk, list, abuse reports, other machine mail: no ticket, no reply


@dataclass(frozen=True)
class InboundMessage:
    """A customer's message, translated from the platform payload by the adapter."""

    channel: str
    external_id: str  # the platform's id for this message (email Message-ID, Slack "C1:ts", ...)
    sender: Contact
    reply_target: ReplyTarget
    text: str
    subject: str = ""
    kind: InboundKind = InboundKind.MESSAGE
    # Keys that name an existing conversation, strongest first (our own outbound message ids,
    # the platform thread). Looked up before `ticket_hint`.
    thread_keys: tuple[str, ...] = ()
    # A ticket number the sender quoted, e.g. the [T-42] tag in an email subject.
    ticket_hint: int | None = None
    # Weaker keys looked up after the hint (e.g. inbound Message-IDs in References).
    related_keys: tuple[str, ...] = ()
    # Our own outbound ids that a bounce reports as undeliverable (kind BOUNCE only).
    bounced_keys: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    received_at: datetime | None = None
    # Intake template answers (field name -> answer) when the message came from a form.
    fields: Mapping[str, str] = field(default_factory=dict)
    priority: str | None = None  # "urgent" | "high" | "normal" | "low" when the sender chose one
    note: str = ""  # why the adapter classified the message as it did (logged, shown to agents)
    # Set when the adapter could not read the message properly (say, broken MIME): what a person
    # should look at. Recorded as an internal note on the ticket the message opens or joins.
    for_a_person: str = ""
    # Who else receives this message on its channel (email To and Cc, lower case): a reply-all
    # that keeps the ticket's requester among them is part of the requester's conversation.
    addressees: tuple[str, ...] = ()
    # Join the ticket the keys name, but never open one: e.g. a Slack thread reply outside the
    # intake channels, which belongs to Tidings only if that thread is already a ticket.
    join_only: bool = False


@dataclass(frozen=True, slots=True)
class Actor:
    """Someone acting on a channel: a platform user id that may map to a configured agent."""

    channel: str
    user_id: str
    name: str = ""
    roles: tuple[str, ...] = ()  # platform role ids (Discord), checked against `agent_roles`


@dataclass(frozen=True)
class AgentMessage:
    """An agent wrote in a ticket's thread: a reply, or a note when it starts `note:`."""

    channel: str
    external_id: str
    actor: Actor
    thread_keys: tuple[str, ...]
    text: str
    # Written where the customer reads it (their own thread): recorded as a public reply that
    # counts as an update, never sent to them a second time.
    already_public: bool = False
    # Set (maybe "") when the channel cannot vouch for the sender (mail, whose From anyone can
    # write): the signed reply token the message was addressed to, checked against the sender
    # before anything is applied (core/reply_tokens.py). None: the platform vouches.
    reply_token: str | None = None
    subject: str = ""  # the message's subject, where it has one (to answer a refusal in thread)
    # Files the agent attached: sent on to the customer with the reply (stored locally first).
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class Ignored:
    """The adapter decided a payload is not for intake (bot message, edit, delete, ...)."""

    reason: str


Decoded = InboundMessage | AgentMessage | Ignored


@dataclass(frozen=True, slots=True)
class RawInbound:
    """An inbound payload exactly as received; persisted before the platform is acknowledged."""

    channel: str
    external_id: str  # dedupe key within the channel
    payload: bytes


class CardMatch(NamedTuple):
    """A similar ticket or incident shown on a triage card (a JSON list when stored)."""

    ref: str  # "T-12" or "INC-3"
    subject: str
    score: int  # 0-100
    incident: str = ""  # the open incident it is, or is linked to: "INC-3"; else ""


# The words a chat button may run, and nothing else: a button's value comes back from the
# platform, so only these two shapes are accepted from it.
BUTTON_WORDS = re.compile(r"^(?:link T-\d{1,9} INC-\d{1,9}|confirm P-\d{1,9})$")


@dataclass(frozen=True, slots=True)
class TicketCard:
    """What a triage card shows; adapters render it (Slack blocks, Discord embed)."""

    ref: str
    number: int
    channel: str
    requester: str
    subject: str
    excerpt: str
    status: str
    priority: str
    assignee: str
    eta: datetime | None
    next_update_due: datetime | None
    waiting_on: str
    # The customer's latest message when there is a later one than `excerpt` (the first), and
    # when and as whom the customer last wrote (set whenever they wrote at all).
    latest: str = ""
    latest_at: datetime | None = None
    latest_by: str = ""
    similar: tuple[CardMatch, ...] = ()  # the best few matches, best first

    def link_button(self) -> tuple[str, str] | None:
        """("Link to INC-n", grammar words) for the best match that is or has an open
        incident; None when no match has one or the ticket is done."""
        if self.status in ("resolved", "closed"):
            return None
        for match in self.similar:
            if match.incident:
                return f"Link to {match.incident}", f"link {self.ref} {match.incident}"
        return None


class Audience(StrEnum):
    """Who an outbound message is for."""

    CUSTOMER = "customer"
    AGENTS = "agents"  # alerts, nudges and cards in a triage channel


@dataclass(frozen=True)
class OutboundMessage:
    """A platform-independent message for one ReplyTarget, as stored in the outbox."""

    ticket_ref: str  # "T-42"
    subject: str  # the ticket's subject (email renders "Re: [T-42] <subject>")
    text: str  # plain text; adapters escape it for their platform
    kind: (
        str  # the event kind that caused it: ack, agent_reply, status_update, apology, nudge, card…
    )
    automatic: bool  # written by Tidings, not a person (email adds Auto-Submitted)
    token: str  # unique per outbox row, stable across retries (e.g. email Message-ID local part)
    audience: Audience = Audience.CUSTOMER
    in_reply_to: str = ""  # the customer's latest message id on this channel, if any
    references: tuple[str, ...] = ()  # earlier message ids of this conversation, oldest first
    card: TicketCard | None = None  # set when kind == "card"
    edit_external_id: str = ""  # when set, edit this earlier message (a card) instead of posting
    # When > 0 the message asks for a rating: chat adapters add buttons 1..rating_scale, whose
    # press comes back through Intake.rate.
    rating_scale: int = 0
    # Files sent with the message (an agent's attachments): `stored_at` is a local path.
    attachments: tuple[Attachment, ...] = ()
    # Buttons under the message: (label, grammar words matching BUTTON_WORDS), run as the
    # agent who presses one (the possible-incident card's "Open incident").
    buttons: tuple[tuple[str, str], ...] = ()
    # A digest (kind "digest"): the cards of the new tickets it lists, each answerable on its own.
    digest: tuple[TicketCard, ...] = ()


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the platform said about a delivered message."""

    external_id: str = ""  # Message-ID / Slack ts / Discord message id
    # When the first message started the conversation somewhere new (a Slack DM thread, say),
    # the ticket's reply target becomes this, and these keys are registered for the ticket.
    reply_target: ReplyTarget | None = None
    thread_keys: tuple[str, ...] = ()


async def _keep_nothing(parts: tuple[str, ...]) -> None:
    return None


@dataclass
class Progress:
    """How far earlier attempts got with one message that goes out in several platform calls
    (a long Discord reply in parts, a Slack reply and then its files), kept on its outbox row.

    A channel skips the parts in `done` and calls `went_out` for each part before it sends
    the next one, so a failure or a crash part-way repeats none of what the customer already
    saw: the retry, in this process or another, resumes after the last part that went out.
    """

    done: tuple[str, ...] = ()  # each part's platform id (whatever the channel needs), in order
    keep: Callable[[tuple[str, ...]], Awaitable[None]] = _keep_nothing

    async def went_out(self, part: str) -> None:
        """Record a part as sent; raises (and the message is retried) if it cannot be kept."""
        self.done = (*self.done, part)
        await self.keep(self.done)


class DeliveryError(Exception):
    """A send failed. Permanent failures are not retried; temporary ones back off."""

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class CommandReply:
    """The answer to an agent command: text for the agent, and whether it changed anything."""

    ok: bool
    text: str
    ticket_ref: str = ""


@runtime_checkable
class Intake(Protocol):
    """What the application gives an adapter on start: the only way in to the core."""

    async def receive(self, raw: RawInbound) -> bool:
        """Persist a payload durably; True if new, False if it was a duplicate. Ack after this."""
        ...

    async def command(self, actor: Actor, text: str) -> CommandReply:
        """Run agent command-grammar words (e.g. "eta T-4 tomorrow 15:00") for `actor`."""
        ...

    async def search_tickets(self, text: str, limit: int = 25) -> list[tuple[str, str]]:
        """Active tickets whose ref or subject matches `text`: (ref, subject), for autocomplete."""
        ...

    async def rate(self, actor: Actor, ref: str, score: int) -> CommandReply:
        """A customer pressed a rating button on ticket `ref`'s resolution message."""
        ...

    async def names_a_ticket(self, channel: str, key: str) -> bool:
        """Whether `key` is a known conversation key of a ticket on `channel` (a thread id,
        say): lets an adapter drop a thread's chatter before storing it."""
        ...

    async def link_verified_email(self, contact: Contact, email: str) -> bool:
        """The platform vouches that `contact` receives mail at `email` (Slack: a workspace
        member's profile email): link them with that email contact as one person. True when
        a link was made; False when there is no such contact or they were one already."""
        ...

    async def search_incidents(self, text: str, limit: int = 25) -> list[tuple[str, str]]:
        """Open incidents whose ref or title matches `text`: (ref, title), for autocomplete."""
        ...


@runtime_checkable
class Channel(Protocol):
    """A platform adapter: thin I/O around pure translation functions.

    Optional member: `decoder`, declared by DecodesElsewhere below.
    """

    name: str

    async def start(self, on_message: Intake) -> None:
        """Connect/listen; hand every inbound payload to `on_message.receive` before acking."""
        ...

    async def stop(self) -> None: ...

    async def send(self, target: ReplyTarget, message: OutboundMessage) -> SendResult:
        """Deliver one message; raise DeliveryError on failure."""
        ...

    def decode(self, payload: bytes) -> Decoded:
        """Pure: translate a stored payload into what core understands. Must not raise."""
        ...

    def problem(self) -> str | None:
        """None when connected and healthy, else a short description (for /healthz)."""
        ...


@runtime_checkable
class FetchesFiles(Channel, Protocol):
    """A Channel whose messages name files by URL (Slack, Discord): core fetches them once,
    after the platform was acknowledged and before the message is applied."""

    async def fetch_file(self, attachment: Attachment, limit: int) -> bytes:
        """The file's bytes; FileTooLarge past `limit` bytes, another exception on failure."""
        ...


@runtime_checkable
class DecodesElsewhere(Channel, Protocol):
    """A Channel that also offers `decoder`, its optional member: `decode` as a picklable
    function, so core may decode a burst of its payloads in another process.

    (A protocol cannot mark one member optional, so the channels that have it are this one.)
    """

    @property
    def decoder(self) -> Callable[[bytes], Decoded]:
        """A picklable function equal to `decode`: the same result for every payload."""
        ...


@runtime_checkable
class SendsInParts(Channel, Protocol):
    """A Channel some of whose messages take several platform calls: it also offers
    `send_parts`, which the delivery worker calls instead of `send` (the same result)."""

    async def send_parts(
        self, target: ReplyTarget, message: OutboundMessage, progress: Progress
    ) -> SendResult:
        """`send`, resuming after `progress.done` and reporting each part as it goes out."""
        ...

"""Messages posted on a ticket page: stored in the inbox as channel "web", decoded like any other.

Why a channel of its own: the inbox is the one way in (persisted first, deduplicated by channel
and external id, processed in order). The page's handler has already checked the page token,
so the payload names the ticket and its requester: the message joins that ticket through the
one open-or-join decision (a closed ticket gets a follow-up, as for any message), is recorded as
the requester's, and the ticket keeps replying on the customer's own channel, never "web"."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from core.channel import (
    Contact,
    Decoded,
    DeliveryError,
    Ignored,
    InboundMessage,
    Intake,
    OutboundMessage,
    RawInbound,
    ReplyTarget,
    SendResult,
)

CHANNEL = "web"


@dataclass(frozen=True)
class PagePost:
    """A message from the page, with the ticket it belongs to as the handler found it."""

    nonce: str  # the form's one-time id: a form sent twice is one message
    ticket_id: int
    text: str
    requester: Contact
    reply_target: ReplyTarget

    def raw(self) -> RawInbound:
        payload = {
            "id": self.nonce, "ticket": self.ticket_id, "text": self.text,
            "sender": [self.requester.channel, self.requester.address, self.requester.name],
            "reply": [self.reply_target.channel, self.reply_target.address,
                      self.reply_target.thread],
        }  # fmt: skip
        return RawInbound(CHANNEL, f"page-{self.nonce}", json.dumps(payload).encode())


def decode_post(payload: bytes) -> Decoded:
    """A stored page post as the core's InboundMessage; never raises."""
    try:
        data = json.loads(payload)
        sender, reply = Contact(*data["sender"]), ReplyTarget(*data["reply"])
        return InboundMessage(
            channel=CHANNEL,
            external_id=f"page-{data['id']}",
            sender=sender,
            reply_target=reply,
            text=str(data["text"]),
            ticket_hint=int(data["ticket"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        return Ignored(f"unreadable ticket page message: {exc}")


class PageFormChannel:
    """The Channel the page's posts arrive on. It sends nothing: replies go to the customer's
    own channel, so a row addressed here is a defect and fails at once."""

    name = CHANNEL

    async def start(self, on_message: Intake) -> None:
        """The page's handler hands posts to the intake itself."""

    async def stop(self) -> None:
        """Nothing to close."""

    async def send(self, target: ReplyTarget, message: OutboundMessage) -> SendResult:
        raise DeliveryError("the ticket page receives messages and sends none", permanent=True)

    def decode(self, payload: bytes) -> Decoded:
        return decode_post(payload)

    @property
    def decoder(self) -> Callable[[bytes], Decoded]:
        return decode_post

    def problem(self) -> str | None:
        return None

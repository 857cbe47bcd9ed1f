"""A channel for tests: messages in as JSON, messages out recorded, failures on demand."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field

from core.channel import (
    Actor,
    AgentMessage,
    Contact,
    Decoded,
    DeliveryError,
    Ignored,
    InboundKind,
    InboundMessage,
    Intake,
    OutboundMessage,
    RawInbound,
    ReplyTarget,
    SendResult,
)


@dataclass
class Sent:
    target: ReplyTarget
    message: OutboundMessage


@dataclass
class FakeChannel:
    """Implements core.channel.Channel; `say()` plays a customer, `sent` is what they received."""

    name: str = "fake"
    sent: list[Sent] = field(default_factory=list)
    failures: deque[DeliveryError] = field(default_factory=deque)
    intake: Intake | None = None
    _counter: int = 0

    async def start(self, on_message: Intake) -> None:
        self.intake = on_message

    async def stop(self) -> None:
        self.intake = None

    def problem(self) -> str | None:
        return None if self.intake else "not started"

    async def send(self, target: ReplyTarget, message: OutboundMessage) -> SendResult:
        if self.failures:
            raise self.failures.popleft()
        self.sent.append(Sent(target, message))
        self._counter += 1
        return SendResult(external_id=f"out-{self._counter}")

    async def say(
        self,
        user: str,
        text: str,
        *,
        message_id: str,
        thread: str = "",
        kind: str = "message",
        name: str = "",
    ) -> bool:
        """A customer writes; returns what the intake said (True new, False duplicate)."""
        assert self.intake is not None, "channel not started"
        payload = {"user": user, "text": text, "id": message_id, "thread": thread,
                   "kind": kind, "name": name}  # fmt: skip
        return await self.intake.receive(
            RawInbound(self.name, message_id, json.dumps(payload).encode())
        )

    async def agent_says(self, user: str, thread_key: str, text: str, *, message_id: str) -> bool:
        assert self.intake is not None
        payload = {"agent": user, "thread": thread_key, "text": text, "id": message_id}
        return await self.intake.receive(
            RawInbound(self.name, message_id, json.dumps(payload).encode())
        )

    def decode(self, payload: bytes) -> Decoded:
        data = json.loads(payload)
        if data.get("ignore"):
            return Ignored(data["ignore"])
        if "agent" in data:
            return AgentMessage(self.name, data["id"], Actor(self.name, data["agent"]),
                                (data["thread"],), data["text"])  # fmt: skip
        thread = data.get("thread") or data["id"]
        return InboundMessage(
            channel=self.name,
            external_id=data["id"],
            sender=Contact(self.name, data["user"], data.get("name", "")),
            reply_target=ReplyTarget(self.name, data["user"], thread),
            text=data["text"],
            kind=InboundKind(data.get("kind", "message")),
            thread_keys=(data["thread"],) if data.get("thread") else (),
        )

    def texts_to(self, user: str) -> list[str]:
        return [s.message.text for s in self.sent if s.target.address == user]

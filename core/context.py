"""What every core operation needs to know: settings, the clock, texts, the calendar."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.agents import mailboxes
from core.channel import ReplyTarget
from core.clock import Clock, SystemClock
from core.config import Settings
from core.promises.schedule import BusinessCalendar, next_update_due
from core.texts import Texts


@dataclass
class Context:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    texts: Texts = field(init=False)
    calendar: BusinessCalendar = field(init=False)

    def __post_init__(self) -> None:
        reminders = self.settings.reminders
        self.calendar = BusinessCalendar(reminders.business_hours)
        self.texts = Texts.for_settings(self.settings, self.clock)

    def now(self) -> datetime:
        return self.clock.now()

    def next_update_due(self, priority: str, status: str, now: datetime) -> datetime:
        return next_update_due(self.settings.reminders, self.calendar, priority, status, now)

    def triage_targets(self, assignee: str | None = None) -> list[ReplyTarget]:
        """Where messages for agents go: the triage channel of every enabled chat platform,
        and the mailbox of each agent with an email address. A ticket someone holds concerns
        them: with `assignee` set, only their mailbox (none when they read no mail)."""
        targets = []
        slack, discord = self.settings.slack, self.settings.discord
        if slack.enabled and slack.triage_channel:
            targets.append(ReplyTarget("slack", slack.triage_channel, ""))
        if discord.enabled and discord.triage_channel:
            targets.append(ReplyTarget("discord", discord.triage_channel, ""))
        if self.settings.email.enabled:
            targets.extend(
                ReplyTarget("email", address, "")
                for name, address in sorted(mailboxes(self.settings).items())
                if not assignee or name == assignee
            )
        return targets

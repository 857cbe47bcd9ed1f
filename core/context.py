"""What every core operation needs to know: settings, the clock, texts, the calendar."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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

    def triage_targets(self) -> list[ReplyTarget]:
        """The triage channels of every enabled chat platform."""
        targets = []
        slack, discord = self.settings.slack, self.settings.discord
        if slack.enabled and slack.triage_channel:
            targets.append(ReplyTarget("slack", slack.triage_channel, ""))
        if discord.enabled and discord.triage_channel:
            targets.append(ReplyTarget("discord", discord.triage_channel, ""))
        return targets

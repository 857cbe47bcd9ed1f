"""Discord UI: the intake modal, the ETA/waiting modals, and the persistent triage-card buttons."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

from channels.discord.cards import (
    CUSTOM_ID,
    RATING_ID,
    WORDS_ID,
    card_buttons,
    custom_id,
    link_button,
    rating_id,
    words_id,
)
from channels.discord.translate import FormSpec, command_words
from core.channel import TicketCard
from core.config import IntakeField

if TYPE_CHECKING:
    from channels.discord.client import TidingsClient

MODAL_ITEMS = 5  # Discord's limit of components in one modal
LABEL_LIMIT = 45


def _client(interaction: discord.Interaction[Any]) -> TidingsClient:
    return cast("TidingsClient", interaction.client)


def _input(field: IntakeField) -> discord.ui.Item[Any]:
    if field.style == "choice" and field.choices:
        return discord.ui.Select(
            custom_id=field.name,
            options=[
                discord.SelectOption(label=c[:100], value=c[:100]) for c in field.choices[:25]
            ],
            placeholder=field.placeholder[:150] or None,
            required=field.required,
        )
    style = discord.TextStyle.paragraph if field.style == "long" else discord.TextStyle.short
    return discord.ui.TextInput(
        custom_id=field.name,
        style=style,
        placeholder=field.placeholder[:100] or None,
        required=field.required,
        max_length=4000 if field.style == "long" else 300,
    )


class IntakeModal(discord.ui.Modal):
    """`/ticket new`: the quick intake template, the same key fields as every channel."""

    def __init__(self, form: FormSpec) -> None:
        super().__init__(title="Report a problem", timeout=900)
        self.inputs: dict[str, discord.ui.Item[Any]] = {}
        for field in form.fields[:MODAL_ITEMS]:
            item = _input(field)
            self.inputs[field.name] = item
            self.add_item(discord.ui.Label(text=field.label[:LABEL_LIMIT], component=item))

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        answers: dict[str, str] = {}
        for name, item in self.inputs.items():
            if isinstance(item, discord.ui.Select):
                answers[name] = str(item.values[0]) if item.values else ""
            elif isinstance(item, discord.ui.TextInput):
                answers[name] = item.value
        await _client(interaction).submit_form(interaction, answers)


class _TicketModal(discord.ui.Modal):
    """A card button's follow-up question; on submit it runs one grammar command."""

    sub = ""

    def __init__(self, title: str, ref: str, first: tuple[str, str, str]) -> None:
        super().__init__(title=title[:45], timeout=900)
        self.ref = ref
        name, label, placeholder = first
        self.first_name = name
        self.first: discord.ui.TextInput[Any] = discord.ui.TextInput(
            custom_id=name, placeholder=placeholder, max_length=200
        )
        self.text: discord.ui.TextInput[Any] = discord.ui.TextInput(
            custom_id="text", style=discord.TextStyle.paragraph, required=False, max_length=1500
        )
        self.add_item(discord.ui.Label(text=label, component=self.first))
        self.add_item(
            discord.ui.Label(text="Message to the customer (optional)", component=self.text)
        )

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        options = {"ticket": self.ref, self.first_name: self.first.value, "text": self.text.value}
        await _client(interaction).run_command(interaction, command_words(self.sub, options))


class EtaModal(_TicketModal):
    sub = "eta"

    def __init__(self, ref: str) -> None:
        first = ("when", "When will it be fixed?", "tomorrow 15:00, in 2h, 2026-12-01 09:00")
        super().__init__(f"Set ETA for {ref}", ref, first)


class WaitModal(_TicketModal):
    sub = "wait"

    def __init__(self, ref: str) -> None:
        super().__init__(
            f"{ref}: waiting on…", ref, ("what", "What are we waiting for?", "the vendor's fix")
        )


class CardButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CUSTOM_ID):
    """A triage-card button; everything it needs is in its custom id, so it survives restarts."""

    def __init__(self, action: str, number: int, label: str = "", style: int = 2) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label or action,
            style=discord.ButtonStyle(style),
            custom_id=custom_id(action, number),
        )
        super().__init__(button)
        self.action = action
        self.number = number

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> CardButton:
        return cls(match["action"], int(match["number"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        ref, client = f"T-{self.number}", _client(interaction)
        if self.action in ("eta", "wait") and not client.is_agent(interaction.user):
            await client.refuse(interaction)  # the modal would name the ticket to anyone
        elif self.action == "eta":
            await interaction.response.send_modal(EtaModal(ref))
        elif self.action == "wait":
            await interaction.response.send_modal(WaitModal(ref))
        else:
            await client.run_command(interaction, f"{self.action} {ref}")


def card_view(card: TicketCard) -> discord.ui.View:
    """The buttons for a card; no timeout, the dynamic item handles clicks forever."""
    view = discord.ui.View(timeout=None)
    for cid, label, style in card_buttons(card):
        match = CUSTOM_ID.match(cid)
        assert match is not None  # card_buttons builds ids from the same pattern
        view.add_item(CardButton(match["action"], int(match["number"]), label, style))
    link = link_button(card)
    if link is not None:
        found = WORDS_ID.match(link[0])
        assert found is not None  # built from the same pattern
        view.add_item(WordsButton(found["words"], link[1]))
    return view


class WordsButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=WORDS_ID):
    """ "Link to INC-n" on a card, "Open incident" on a possible-incident card: its custom id
    holds the grammar words it runs (only the two shapes WORDS_ID allows), as the presser."""

    def __init__(self, words: str, label: str = "", style: int = 1) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label or words, style=discord.ButtonStyle(style), custom_id=words_id(words)
        )
        super().__init__(button)
        self.words = words

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> WordsButton:
        return cls(match["words"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _client(interaction).run_command(interaction, self.words)


def words_view(buttons: tuple[tuple[str, str], ...]) -> discord.ui.View | None:
    """The buttons under a message (label, words); those of another shape are left out."""
    view = discord.ui.View(timeout=None)
    for label, words in buttons[:5]:
        if WORDS_ID.match(words_id(words)):
            view.add_item(WordsButton(words, label))
    return view if view.children else None


class RatingButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=RATING_ID):
    """A customer's rating on a resolution message; its custom id names ticket and score."""

    def __init__(self, number: int, score: int) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=str(score),
            style=discord.ButtonStyle.secondary,
            custom_id=rating_id(number, score),
        )
        super().__init__(button)
        self.number = number
        self.score = score

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> RatingButton:
        return cls(int(match["number"]), int(match["score"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _client(interaction).rate(interaction, f"T-{self.number}", self.score)


def rating_view(number: int, scale: int) -> discord.ui.View:
    """Buttons 1..scale under a resolution message; the dynamic item handles clicks forever."""
    view = discord.ui.View(timeout=None)
    for score in range(1, scale + 1):
        view.add_item(RatingButton(number, score))
    return view

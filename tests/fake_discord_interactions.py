"""What a Discord user does with the bot's UI in the fake: slash commands, buttons, modals."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tests.fake_discord_payloads import FakeUser, interaction_payload

if TYPE_CHECKING:
    from tests.fake_discord import InteractionRecord

COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
MESSAGE_COMMAND = 3  # the application command type of a message context menu entry


class InteractionsMixin:
    """Builds INTERACTION_CREATE payloads the way the Discord client would."""

    application_id: str
    channels: dict[str, dict[str, Any]]
    commands: dict[str, list[dict[str, Any]]]
    messages: dict[str, dict[str, Any]]
    interactions: dict[str, InteractionRecord]

    if TYPE_CHECKING:  # provided by FakeDiscord

        def dm_channel(self, person: FakeUser) -> dict[str, Any]: ...

        async def interact(
            self, person: FakeUser, kind: int, data: dict[str, Any], **kwargs: Any
        ) -> InteractionRecord: ...

    def start_interaction(
        self,
        person: FakeUser,
        kind: int,
        data: dict[str, Any],
        *,
        channel_id: str | None = None,
        message: dict[str, Any] | None = None,
    ) -> InteractionRecord:
        from tests.fake_discord import InteractionRecord

        if channel_id is None:
            channel = self.dm_channel(person)
        else:
            channel = self.channels[channel_id]
        guild_id = channel.get("guild_id")
        payload = interaction_payload(
            kind=kind,
            application_id=self.application_id,
            user=person,
            channel=channel,
            guild_id=guild_id,
            data=data,
            message=message,
        )
        record = InteractionRecord(payload=payload, sent_at=time.monotonic())
        self.interactions[record.token] = record
        return record

    def _command_data(
        self, sub: str, options: dict[str, str], channel_id: str | None, focused: str = ""
    ) -> dict[str, Any]:
        guild_id = self.channels[channel_id].get("guild_id") if channel_id else None
        synced = self.commands.get(guild_id or "global") or []
        command = next((c for c in synced if c["name"] == "ticket"), None)
        if command is None:
            raise AssertionError("the bot has not synced a /ticket command where this is typed")
        declared = {o["name"]: o for o in command["options"]}
        if sub not in declared:
            raise AssertionError(f"/ticket has no subcommand {sub!r}")
        allowed = {o["name"]: o for o in declared[sub].get("options", [])}
        for name, value in options.items():
            if name not in allowed:
                raise AssertionError(f"/ticket {sub} has no option {name!r}")
            choices = [c["value"] for c in allowed[name].get("choices", [])]
            if choices and value not in choices and name != focused:
                raise AssertionError(f"{value!r} is not one of the choices {choices}")
        for name, option in allowed.items():
            if option.get("required") and name not in options:
                raise AssertionError(f"Discord would not send /ticket {sub} without {name!r}")
        values = [
            {"name": k, "type": 3, "value": v} | ({"focused": True} if k == focused else {})
            for k, v in options.items()
        ]
        data: dict[str, Any] = {
            "id": command["id"],
            "name": "ticket",
            "type": 1,
            "options": [{"name": sub, "type": 1, "options": values}],
        }
        if guild_id:
            data["guild_id"] = guild_id
        return data

    async def slash(
        self, person: FakeUser, sub: str, *, channel_id: str | None = None, **options: str
    ) -> InteractionRecord:
        """`person` runs `/ticket <sub> option:value ...` in a channel (default: a DM)."""
        data = self._command_data(sub, options, channel_id)
        return await self.interact(person, COMMAND, data, channel_id=channel_id)

    async def autocomplete(
        self,
        person: FakeUser,
        sub: str,
        focused: str,
        *,
        channel_id: str | None = None,
        **options: str,
    ) -> InteractionRecord:
        data = self._command_data(sub, options, channel_id, focused=focused)
        return await self.interact(person, AUTOCOMPLETE, data, channel_id=channel_id)

    async def use_on_message(
        self, person: FakeUser, message: dict[str, Any], name: str
    ) -> InteractionRecord:
        """`person` right-clicks `message` and picks the app's message command `name` (Apps →
        name): an application command of type MESSAGE whose target is resolved in the data."""
        channel_id = str(message["channel_id"])
        guild_id = self.channels[channel_id].get("guild_id")
        synced = self.commands.get(guild_id or "global") or []
        command = next(
            (c for c in synced if c.get("type") == MESSAGE_COMMAND and c["name"] == name), None
        )
        if command is None:
            raise AssertionError(f"the bot has not synced a message command {name!r} here")
        stored = self.messages[str(message["id"])]  # as Discord resolves it: the message object
        data: dict[str, Any] = {
            "id": command["id"],
            "name": name,
            "type": MESSAGE_COMMAND,
            "target_id": stored["id"],
            "resolved": {"messages": {stored["id"]: stored}},
        }
        if guild_id:
            data["guild_id"] = guild_id
        return await self.interact(
            person, COMMAND, data, channel_id=channel_id if guild_id else None
        )

    async def click(
        self, person: FakeUser, message: dict[str, Any], label: str
    ) -> InteractionRecord:
        """`person` presses the button labelled `label` on one of the bot's messages."""
        buttons = [c for row in message.get("components", []) for c in row.get("components", [])]
        button = next((b for b in buttons if b.get("label") == label), None)
        if button is None:
            raise AssertionError(f"no button {label!r} on the message; buttons: {buttons}")
        data = {"custom_id": button["custom_id"], "component_type": 2}
        return await self.interact(
            person, COMPONENT, data, channel_id=message["channel_id"], message=message
        )

    async def submit(
        self, person: FakeUser, opened: InteractionRecord, values: dict[str, str]
    ) -> InteractionRecord:
        """`person` fills in the modal the bot opened for `opened` and presses Submit."""
        modal = opened.modal()
        if modal is None:
            raise AssertionError(f"the bot did not open a modal: {opened.callbacks}")
        rows = []
        for row in modal["components"]:
            if row["type"] == 1:
                rows.append({"type": 1, "components": [self._answer(row["components"][0], values)]})
            elif row["type"] == 18:
                rows.append({"type": 18, "component": self._answer(row["component"], values)})
        data = {"custom_id": modal["custom_id"], "components": rows}
        channel_id = opened.payload["channel_id"]
        guild_channel = channel_id if self.channels[channel_id].get("guild_id") else None
        return await self.interact(person, MODAL_SUBMIT, data, channel_id=guild_channel)

    def _answer(self, component: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
        custom_id = component["custom_id"]
        value = values.get(custom_id, "")
        if component.get("required", True) and not value:
            raise AssertionError(f"Discord would not submit the modal without {custom_id!r}")
        if component["type"] == 3:
            options = [o["value"] for o in component["options"]]
            if value and value not in options:
                raise AssertionError(f"{value!r} is not an option of {custom_id!r}: {options}")
            return {"type": 3, "id": 0, "custom_id": custom_id, "values": [value] if value else []}
        if len(value) > component.get("max_length", 4000):
            raise AssertionError(
                f"{custom_id!r} allows at most {component['max_length']} characters"
            )
        return {"type": 4, "id": 0, "custom_id": custom_id, "value": value}

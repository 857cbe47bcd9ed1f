"""The slack-bolt AsyncApp: listeners that persist intake before the ack, and run agent commands."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack.client import error_code
from channels.slack.inbound import (
    CHANNEL,
    INTAKE_VIEW,
    OPEN_TICKET_SHORTCUT,
    bot_user_of,
    form_answers,
    raw_key,
    worth_storing,
)
from channels.slack.markup import clip, escape
from channels.slack.outbound import RATE, RESOLVE, SET_ETA, TAKE, WAITING, WORDS
from channels.slack.people import EmailLinks
from channels.slack.views import (
    ETA_VIEW,
    WAIT_VIEW,
    eta_modal,
    form_words,
    intake_modal,
    wait_modal,
)
from core import metrics
from core.agents import authorise
from core.channel import BUTTON_WORDS, Actor, Intake, RawInbound
from core.config import Settings

log = logging.getLogger(__name__)

NOT_AGENT = "Sorry, only agents can change tickets. Write to me directly if you need help."
NOT_AGENT_TO_LOG = "Sorry, only agents can log a message as a ticket."
_BUTTON_VERBS = {TAKE: "take", RESOLVE: "resolve"}


def _stored_bytes(request: AsyncBoltRequest, body: Mapping[str, Any]) -> bytes:
    """The payload to persist: the raw JSON as Slack sent it where we have it, else the parsed
    payload (form-encoded interactivity, Socket Mode envelopes) as JSON: decode() reads one form."""
    if request.mode == "http" and request.raw_body.startswith("{"):
        return request.raw_body.encode()
    return json.dumps(body, separators=(",", ":")).encode()


def _for_agent(text: str) -> str:
    """A private answer: escaped (it may quote customer text), within Slack's 4,000 characters."""
    return clip(escape(text), 3900)


def _actor(body: Mapping[str, Any]) -> Actor:
    user = body.get("user") or {}
    return Actor(
        CHANNEL, str(user.get("id", "")), str(user.get("name") or user.get("username") or "")
    )


async def _whisper(client: AsyncWebClient, channel: str, user: str, text: str) -> None:
    """An ephemeral answer only `user` sees; best effort (the action itself already happened)."""
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=_for_agent(text))
    except SlackApiError as exc:
        log.warning("slack: could not answer %s in %s: %s", user, channel, error_code(exc))
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("slack: could not answer %s in %s: %r", user, channel, exc)


async def _respond(respond: AsyncRespond, body: Mapping[str, Any], text: str) -> bool:
    """An ephemeral answer through the payload's response_url, which works in any conversation
    (chat.postEphemeral needs the bot in the channel); False when that did not work."""
    if not body.get("response_url"):
        return False
    try:
        answer = await respond(text=_for_agent(text), response_type="ephemeral",
                               replace_original=False)  # fmt: skip
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("slack: response_url unreachable: %r", exc)
        return False
    if answer.status_code != 200:
        log.warning("slack: response_url answered %s: %s", answer.status_code, answer.body[:200])
    return answer.status_code == 200


class Listeners:
    """What the app does with each kind of request, one named method each (bolt passes the
    arguments a method names: ack, body, client, request, action, view)."""

    def __init__(self, settings: Settings, intake: Intake) -> None:
        self.settings = settings
        self.intake = intake
        self.email_links = EmailLinks(intake)  # Slack + email customers as one person

    def is_agent(self, user_id: str) -> bool:
        return authorise(self.settings, CHANNEL, user_id) is not None

    def counted_agent(self, user_id: str) -> bool:
        """is_agent, counting a refusal (the refusal's words are the caller's or the core's)."""
        if self.is_agent(user_id):
            return True
        metrics.turned_away(CHANNEL, "refused_not_agent")
        return False

    async def store(self, body: dict[str, Any], request: AsyncBoltRequest) -> bool:
        return await self.intake.receive(
            RawInbound(CHANNEL, raw_key(body), _stored_bytes(request, body))
        )

    async def on_message_event(
        self, body: dict[str, Any], request: AsyncBoltRequest, client: AsyncWebClient
    ) -> None:
        # Only cheap dict checks here; parsing happens later in decode(), off the ack path.
        if worth_storing(body, self.settings):
            if await self.store(body, request):
                user = str((body.get("event") or {}).get("user") or "")
                if user and not self.is_agent(user):
                    await self.email_links.on_message(body, client)
            return
        event = body.get("event") or {}
        if event.get("bot_id") or event.get("subtype") == "bot_message":
            ours = event.get("user") and event.get("user") == bot_user_of(body)
            metrics.turned_away(CHANNEL, "ignored_self" if ours else "ignored_bot")

    async def on_other_event(self) -> None:
        """Acknowledge events we do not act on, so Slack does not retry them."""

    async def on_command(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        words = str(body.get("text") or "").strip()
        if words.lower() in ("", "new"):
            await self._open_intake_form(ack, body, client)
            return
        actor = Actor(CHANNEL, str(body.get("user_id", "")), str(body.get("user_name", "")))
        self.counted_agent(actor.user_id)  # the core answers a non-agent with its refusal
        reply = await self.intake.command(actor, words)
        await ack(text=_for_agent(reply.text), response_type="ephemeral")

    async def _open_intake_form(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        try:
            await client.views_open(
                trigger_id=body["trigger_id"], view=intake_modal(self.settings.intake.fields)
            )
        except SlackApiError as exc:
            error = error_code(exc) or "no answer"
            await ack(
                text=f"Sorry, the form did not open ({error}). Send me a direct message "
                "describing the problem instead.",
                response_type="ephemeral",
            )
            return
        await ack()

    async def on_button(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        actor = _actor(body)
        self.counted_agent(actor.user_id)  # the core answers a non-agent with its refusal
        words = f"{_BUTTON_VERBS[action['action_id']]} {action['value']}"
        reply = await self.intake.command(actor, words)
        await _whisper(client, (body.get("channel") or {}).get("id", ""), actor.user_id, reply.text)

    async def on_words_button(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """ "Link to INC-n" or "Open incident": the button's words, run as whoever pressed it
        (an agent check like any command); words of any other shape are refused unrun."""
        await ack()
        actor = _actor(body)
        words = str(action.get("value", ""))
        if BUTTON_WORDS.match(words):
            text = (await self.intake.command(actor, words)).text
        else:
            text = "That button is not one Tidings made; nothing was done."
        await _whisper(client, (body.get("channel") or {}).get("id", ""), actor.user_id, text)

    async def on_rating(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """A customer's rating button: recorded through the desk, answered only to them."""
        await ack()
        actor = _actor(body)
        score = int(action["action_id"].removeprefix(RATE))
        reply = await self.intake.rate(actor, str(action.get("value", "")), score)
        await _whisper(client, (body.get("channel") or {}).get("id", ""), actor.user_id, reply.text)

    async def on_form_button(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        actor = _actor(body)
        channel = (body.get("channel") or {}).get("id", "")
        if not self.counted_agent(actor.user_id):
            await _whisper(client, channel, actor.user_id, NOT_AGENT)
            return
        make = eta_modal if action["action_id"] == SET_ETA else wait_modal
        try:
            await client.views_open(
                trigger_id=body["trigger_id"], view=make(action["value"], channel)
            )
        except SlackApiError as exc:
            verb = "eta" if action["action_id"] == SET_ETA else "wait"
            await _whisper(client, channel, actor.user_id,
                           f"The form did not open ({error_code(exc) or 'no answer'}); "
                           f"use /ticket {verb} {action['value']} … instead.")  # fmt: skip

    async def on_form(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        meta = json.loads(view.get("private_metadata") or "{}")
        field, words = form_words(view["callback_id"], meta.get("ref", ""), form_answers(view))
        actor = _actor(body)
        reply = await self.intake.command(actor, words)
        if not reply.ok:
            # Keep the modal open with the reason next to the field; nothing changed.
            await ack(response_action="errors", errors={field: reply.text[:300]})
            return
        await ack()
        await _whisper(client, meta.get("channel", ""), actor.user_id, reply.text)

    async def on_intake_form(
        self, ack: AsyncAck, body: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        await self.store(body, request)
        await ack()

    async def on_open_ticket(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        request: AsyncBoltRequest,
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        """Log as ticket: the message's author becomes the requester of a ticket answered in
        the message's thread; the agent alone is told what happened."""
        await ack()
        actor = _actor(body)
        message = body.get("message") or {}
        if not self.counted_agent(actor.user_id):
            text = NOT_AGENT_TO_LOG
        elif not message.get("user") or message.get("bot_id"):
            text = "That message was written by a bot, so there is nobody to answer."
        elif await self.store(body, request):
            text = "Logged. The acknowledgement with the ticket number will appear in its thread."
        else:
            text = "That message was already sent to Tidings."
        if not await _respond(respond, body, text):
            await _whisper(client, (body.get("channel") or {}).get("id", ""), actor.user_id, text)

    def register(self, app: AsyncApp) -> None:
        app.event("message")(self.on_message_event)
        app.event("app_mention")(self.on_message_event)
        app.event(re.compile(".*"))(self.on_other_event)
        app.command(self.settings.slack.command)(self.on_command)
        app.action(re.compile(f"^({TAKE}|{RESOLVE})$"))(self.on_button)
        app.action(re.compile(f"^({SET_ETA}|{WAITING})$"))(self.on_form_button)
        app.action(re.compile(f"^{RATE}[1-9]$"))(self.on_rating)
        app.action(re.compile(f"^{WORDS}(?:link|[0-4])$"))(self.on_words_button)
        app.view(re.compile(f"^({ETA_VIEW}|{WAIT_VIEW})$"))(self.on_form)
        app.view(INTAKE_VIEW)(self.on_intake_form)
        app.shortcut(OPEN_TICKET_SHORTCUT)(self.on_open_ticket)


def build_app(settings: Settings, client: AsyncWebClient, intake: Intake) -> AsyncApp:
    """An AsyncApp that needs nothing from Slack to start (no auth.test) and acks only after the
    inbound payload is durably stored (process_before_response: the listener runs to the end)."""
    slack = settings.slack

    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        # One workspace, one bot token from config: nothing to look up, nothing to call.
        return AuthorizeResult(
            enterprise_id=enterprise_id, team_id=team_id, bot_token=slack.bot_token
        )

    app = AsyncApp(
        client=client,
        authorize=authorize,
        signing_secret=slack.signing_secret or None,
        request_verification_enabled=slack.mode == "http",
        process_before_response=True,
        # Bots (ourselves included) are filtered by decode(), which knows the bot's id per event.
        ignoring_self_events_enabled=False,
        logger=logging.getLogger("tidings.slack.bolt"),
    )
    Listeners(settings, intake).register(app)
    return app

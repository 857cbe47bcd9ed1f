"""A Slack member's verified email: customers who also write by email become one person.

The rule: Slack lets nobody into a workspace without confirming their email address (an
invitation or sign-up link sent there), and a new address replaces the old one only once
confirmed the same way (or is set by the organisation's own directory). So the
`profile.email` that users.info returns for a member of *our* workspace (`team_id` equal to the
event's team), still active, not a bot or an app, and not marked `is_email_confirmed: false`,
is an address that person receives mail at, and Tidings links their Slack contact with the
email contact at that address. Anyone else (Slack Connect people from another organisation,
bots, deactivated accounts, an answer without an email because the app lacks
`users:read.email`) is never linked automatically; `same` still can.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack.client import error_code
from channels.slack.inbound import CHANNEL, PERSON_SUBTYPES
from core.channel import Contact, Intake

log = logging.getLogger(__name__)

# users.info runs before Slack's 3 s ack deadline (the payload is already stored): bounded.
LOOKUP_TIMEOUT = 1.0
KNOWN_MAX = 10_000  # members remembered per process; the cache starts over when full


def verified_email(user: Mapping[str, Any], team: str) -> str:
    """The email the rule above trusts for this users.info `user`, or ""."""
    profile = user.get("profile") or {}
    email = str(profile.get("email") or "").strip().lower()
    if not email or "@" not in email or not team or user.get("team_id") != team:
        return ""
    if user.get("deleted") or user.get("is_bot") or user.get("is_app_user"):
        return ""
    if user.get("is_stranger") or user.get("is_email_confirmed") is False:
        return ""
    return email


class EmailLinks:
    """Looks each customer up once per process, and links them whenever they write until the
    link is made (their email contact may appear after their first Slack message)."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.emails: dict[str, str] = {}  # user -> trusted email ("" for none)
        self.linked: set[str] = set()

    async def on_message(self, body: Mapping[str, Any], client: AsyncWebClient) -> None:
        event = body.get("event") or {}
        user, team = str(event.get("user") or ""), str(body.get("team_id") or "")
        if not user or event.get("bot_id") or event.get("subtype", "") not in PERSON_SUBTYPES:
            return
        if user in self.linked:
            return
        email = await self._email(client, user, team)
        if email and await self.intake.link_verified_email(Contact(CHANNEL, user), email):
            self.linked.add(user)

    async def _email(self, client: AsyncWebClient, user: str, team: str) -> str:
        if user in self.emails:
            return self.emails[user]
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT):
                answer = await client.users_info(user=user)
        except SlackApiError as exc:
            # missing_scope: the app was installed without users:read.email; nothing to link.
            log.info("slack: users.info for %s: %s", user, error_code(exc))
            answer = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("slack: users.info for %s failed (%r); asked again next time", user, exc)
            return ""
        found = answer.get("user") if answer is not None else None
        email = verified_email(found, team) if isinstance(found, Mapping) else ""
        if len(self.emails) >= KNOWN_MAX:
            self.emails.clear()
        self.emails[user] = email
        return email

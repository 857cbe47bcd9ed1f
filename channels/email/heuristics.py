"""Machine mail without machine structure, told by its words: plain-text non-delivery notices,
mail-gateway and `-bounces` senders, and challenge-response "confirm you are human" mails.

Each rule was measured on the shared corpus of real mail (see docs/email.md, "Loop
protection"): the corpus's bounces with their report structure, headers and sender stripped
away, against the human and edge-case mail, which must all stay tickets. Plain substring
searches over a bounded prefix of the text: linear, whatever the sender wrote.
"""

from __future__ import annotations

import re

MAX_TEXT_SCAN = 64 * 1024  # characters of the body searched for wording

# What mail systems write in a non-delivery notice, lower case. Each is a phrase a person
# writing to a help desk would hardly use word for word, and is only trusted together with a
# bounce-like subject or a machine sender.
_NDR_PHRASES = (
    "could not be delivered",
    "couldn't be delivered",
    "could not deliver",
    "was not delivered",
    "wasn't delivered",
    "not be delivered to",
    "delivery has failed",
    "delivery to the following recipient",
    "delivery failed",
    "failed permanently",
    "permanent error",
    "permanent fatal error",
    "following address(es) failed",
    "following addresses had permanent",
    "following recipient(s) could not",
    "undeliverable",
    "undelivered mail",
    "returned to sender",
    "returned mail",
    "message could not be sent",
    "user unknown",
    "unknown user",
    "no such user",
    "unknown recipient",
    "recipient address rejected",
    "mailbox unavailable",
    "mailbox not found",
    "mailbox is full",
    "over quota",
    "host unknown",
    "relay access denied",
    "remote host said",
    "smtp error",
    "diagnostic-code",
    "final-recipient",
    "transcript of session",
    "this is the mail system at host",
    "mail delivery software",
    "delivery status notification",
    "the original message was received",
    "non-delivery report",
    "message you sent",
    "your message to",
    "rejected your message",
    "blocked by",
    "considered unsolicited",
    "error delivering",
    "error occurred while trying to deliver",
    "delivery problems",
    "did not reach the following recipient",
    "non-delivered",
    "was rejected by",
    "were rejected by",
    "did not like our",
    "not accepted",
    "a message that you sent",
    "message that you sent",
    "delivery to the following",
    "échec de la remise",
    "nicht zugestellt",
    "unzustellbar",
    "non recapitabile",
    "no entregado",
    "onbestelbaar",
)
# Subject words that alone say "a delivery went wrong" (besides autodetect's bounce subjects).
_NOTICE_SUBJECT = re.compile(
    r"postmaster notify|delivery status\b|mail(er)? (system|delivery) (error|notice)|"
    r"message (was )?(blocked|rejected|quarantined)|returned mail|delivery failure",
    re.IGNORECASE,
)
# Marks of a mail system's voice, needed besides the wording when neither the sender nor the
# structure gives the notice away: a person who writes "Delivery failure: I get 'user unknown'
# when I mail Bob" asks for help, and seldom pastes a status code with it.
_MACHINE_VOICE = re.compile(
    r"\b[245]\.\d{1,3}\.\d{1,3}\b|^[ \t]*[245]\d\d[ -]|\b[245]\d\d[ -][0-9a-z]|mailer-daemon|"
    r"postmaster|original message|automatically generated|automatic(ally)? (notification|message)|"
    r"do not reply|mail delivery (sub)?system|this is the mail system|mail (transfer )?agent|"
    r"received: from|^[ \t]*-{3,}",
    re.IGNORECASE | re.MULTILINE,
)
_FORWARDED = re.compile(r"^\s*(fwd?|wg|tr|rv|enc|i)\s*:", re.IGNORECASE)
# Local parts of senders that are mail machinery: list and VERP bounce addresses, gateways.
_BOUNCES_LOCAL = re.compile(r"(^|[-_.+=])bounces?([-_.+=]|$)", re.IGNORECASE)
_GATEWAY_LOCAL = re.compile(
    r"(^|[-_.])(gateway|mail-?gw|smtp-?gw|mx-?gw|gw|mta|smtp|mailer|mail-?gate|mailscanner|"
    r"mail-?filter|antispam|spamfilter)([-_.0-9]|$)",
    re.IGNORECASE,
)
# Challenge-response systems (TMDA, SpamArrest, Boxbe, Mailblocks, ChoiceMail, Bluebottle...).
_CHALLENGE_HEADERS = (
    "x-challenge",
    "x-challenge-response",
    "x-tmda-fingerprint",
    "x-tmda-confirm-address",
    "x-spamarrest-noauth",
    "x-spam-arrest",
    "x-boxbe-authentication",
    "x-mailblocks",
    "x-choicemail-challenge",
)
_CHALLENGE_SUBJECT = re.compile(
    r"please confirm your (message|e-?mail|mail)\b|please verify your (message|e-?mail|mail)\b|"
    r"confirm (that )?you are (a )?(human|real person|not a (ro)?bot)|"
    r"(verify|prove) (that )?you('re| are) (a )?(human|real person)|"
    r"(message|e-?mail|mail) (is )?(awaiting|pending|held for) (your )?"
    r"(verification|confirmation|authentication)|"
    r"sender verification|challenge[- ]response|\[spam ?arrest\]|boxbe|mailblocks|choicemail",
    re.IGNORECASE,
)
_CHALLENGE_PHRASES = (
    "challenge-response",
    "challenge response",
    "confirm that you are a human",
    "confirm you are a human",
    "confirm you are human",
    "prove that you are human",
    "verify that you are a human",
    "not a spammer",
    "approved senders list",
    "approved sender list",
    "whitelist",
    "spam protection",
    "your message is being held",
    "your message has been held",
    "will be delivered once you",
    "delivered as soon as you",
)


def ndr_phrase(text: str) -> str:
    """The first non-delivery wording found in the text, or ""."""
    head = text[:MAX_TEXT_SCAN].lower()
    return next((phrase for phrase in _NDR_PHRASES if phrase in head), "")


def machine_voice(text: str) -> bool:
    return bool(_MACHINE_VOICE.search(text[:MAX_TEXT_SCAN]))


def notice_subject(subject: str) -> bool:
    return bool(_NOTICE_SUBJECT.search(subject)) and not forwarded(subject)


def forwarded(subject: str) -> bool:
    """A person forwarding something on ("Fwd: Undelivered Mail") is asking about it."""
    return bool(_FORWARDED.match(subject))


def bounces_sender(local_part: str) -> bool:
    return bool(_BOUNCES_LOCAL.search(local_part))


def gateway_sender(local_part: str) -> bool:
    return bool(_GATEWAY_LOCAL.search(local_part))


def challenge_signal(header_names: set[str], subject: str, text: str) -> str:
    """Why the message looks like a challenge-response system's "confirm you are human" mail."""
    for name in _CHALLENGE_HEADERS:
        if name in header_names:
            return f"challenge-response header {name}"
    if _CHALLENGE_SUBJECT.search(subject):
        return f"challenge-response subject {subject[:60]!r}"
    head = text[:MAX_TEXT_SCAN].lower()
    found = [phrase for phrase in _CHALLENGE_PHRASES if phrase in head]
    if len(found) >= 2:
        return f"challenge-response wording ({found[0]!r}, {found[1]!r})"
    return ""

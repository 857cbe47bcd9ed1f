"""Loop protection: tell bounces, out-of-office replies and other machine mail from people."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from channels.email import heuristics, mime
from channels.email.envelope import normalize_id
from core.channel import InboundKind

_DAEMON_LOCAL = re.compile(
    r"^(mailer[-_]?daemon|mail[-_]?daemon|post[-_]?master|mdaemon|mail\.?delivery|"
    r"double-bounce|nobody-?bounce|mailerdaemon|mail-?(?:delivery-)?notification)$",
    re.IGNORECASE,
)
_DAEMON_NAME = re.compile(
    r"mail delivery (subsystem|system|service)|mailer[- ]daemon|postmaster|"
    r"delivery status|mail administrator|mail system|microsoft outlook|"
    r"mail filter|mail ?(?:delivery )?notification",
    re.IGNORECASE,
)
# Subjects MTAs give their non-delivery reports (several languages seen in real bounces).
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status )?notification|delivery (has )?failed|"
    r"delivery failure|failure notice|returned mail|returning message|mail delivery failed|"
    r"could not be delivered|not delivered|non-?deliver|nondeliver|delivery problem|"
    r"delivery report|mail system error|rejected:|permanent (error|failure)|"
    r"warning: could not send|message status|delivery notification|unzustellbar|"
    r"non remis|no entregado|non recapitabile|onbestelbaar|mail could not|mail error|"
    r"delayed mail|delivery delayed|delivery (final|incomplete)|undeliverable|"
    r"error sending|returned to sender|failed delivery|message you sent|sending failed",
    re.IGNORECASE,
)
# Out-of-office subject prefixes as responders write them: "<phrase>:" in front of the original
# subject. The colon matters: "Vacation days missing in the HR portal" is a real request.
_AUTOREPLY_SUBJECT = re.compile(
    r"^\s*(auto(matic|matische)?[ -]?(reply|response|respons|antwort|answer|r[ée]ponse)|auto|"
    r"out of (the )?office( reply| autoreply)?|abwesenheitsnotiz|abwesenheit|"
    r"r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|fuera de la oficina|"
    r"afwezig|automatisch antwoord)\s*:",
    re.IGNORECASE,
)
_AUTOREPLY_HEADERS = (
    "x-autoreply",
    "x-autorespond",
    "x-autoresponder",
    "x-mail-autoreply",
    "x-autoreply-from",
    "x-vacation",
)
_NOREPLY_LOCAL = re.compile(r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|noresponse)([-_+.].*)?$", re.I)
_ABUSE_SUBJECT = re.compile(
    r"^\s*(complaint about message from|abuse report|spam report|email feedback report)", re.I
)
# Mailing-list managers (RFC 2369/2919 and older ones such as fml and ezmlm).
_LIST_HEADERS = (
    "list-id",
    "list-unsubscribe",
    "list-subscribe",
    "list-post",
    "list-help",
    "mailing-list",
    "x-mlserver",
    "x-ml-name",
    "x-mailing-list",
)
# Fields of an RFC 3464 report, found pasted in the text of a forwarded bounce.
_DSN_FIELDS = re.compile(rb"(?im)^[ \t>]*(final-recipient|diagnostic-code|action:[ \t]*failed)")
_REPORT_BOUNCE = {"delivery-status", "global-delivery-status"}
_BOUNCE_PARTS = {"message/delivery-status", "message/global-delivery-status"}
_LABELLED_ID = re.compile(
    rb"(?im)^[ \t>]*(?:message-id|in-reply-to|references|original-message-id|x-message-id)"
    rb"[ \t]*:[ \t]*((?:[^\r\n]*)(?:\r?\n[ \t]+[^\r\n]*)*)"
)
_ANY_ANGLE_ID = re.compile(rb"<([^<>\s@]+@[^<>\s@]+)>")
MAX_SCAN = 256 * 1024  # body bytes scanned for quoted Message-IDs


@dataclass(frozen=True, slots=True)
class Verdict:
    """How a message was classified, why, and (for bounces) which message ids it returns."""

    kind: InboundKind
    note: str = ""
    bounced_ids: tuple[str, ...] = ()


def _local_part(address: str) -> str:
    return address.rsplit("@", 1)[0] if "@" in address else address


def _header(msg: Message, name: str) -> str:
    return mime.header_text(msg, name)


def _part_types(msg: Message) -> list[str]:
    return [mime.content_type(part) for part in mime.walk(msg)]


def _ids_in(data: bytes) -> list[str]:
    ids: list[str] = []
    for match in _LABELLED_ID.finditer(data[:MAX_SCAN]):
        for found in _ANY_ANGLE_ID.finditer(match.group(1)):
            ids.append(f"<{found.group(1).decode('utf-8', 'replace')}>")
    return ids


def returned_ids(msg: Message) -> tuple[str, ...]:
    """Message ids a bounce is about: the returned message's headers, then ids quoted in text."""
    own = normalize_id(_header(msg, "message-id"))
    found: list[str] = []
    for part in mime.walk(msg):
        kind = mime.content_type(part)
        if kind in ("message/rfc822", "message/global") and part.is_multipart():
            inner = part.get_payload(0)
            if isinstance(inner, Message):
                found.append(normalize_id(_header(inner, "message-id")))
        elif kind in ("text/rfc822-headers", "message/rfc822-headers", "text/plain"):
            data = mime.payload_bytes(part)
            if kind != "text/plain":
                try:
                    headers = mime.parse_headers(data)
                    found.append(normalize_id(_header(headers, "message-id")))
                except Exception:
                    pass
            found.extend(_ids_in(data))
    for name in ("in-reply-to", "references"):
        found.extend(normalize_id(v) for v in _header(msg, name).split())
    unique: list[str] = []
    for ident in found:
        if ident and ident != own and ident not in unique:
            unique.append(ident)
    return tuple(unique)


def _bounce_signal(msg: Message, mail_from: str | None, from_addr: str, from_name: str) -> str:
    ctype = mime.content_type(msg)
    report = mime.param(msg, "report-type").lower()
    types = _part_types(msg)
    if ctype == "multipart/report" and report in _REPORT_BOUNCE:
        return f"delivery status report (multipart/report; report-type={report})"
    if _BOUNCE_PARTS.intersection(types):
        return "contains a message/delivery-status part"
    if msg.get("x-failed-recipients"):
        return "X-Failed-Recipients header"
    if (msg.get("x-ms-exchange-message-is-ndr") or "").strip() not in ("", "0", "false"):
        return "X-MS-Exchange-Message-Is-Ndr header"
    sender_is_daemon = bool(_DAEMON_LOCAL.match(_local_part(from_addr))) or bool(
        _DAEMON_NAME.search(from_name)
    )
    if sender_is_daemon:
        return f"sender {from_addr or from_name!r} is a mail system"
    if mail_from is not None and _DAEMON_LOCAL.match(_local_part(mail_from)):
        return f"envelope sender {mail_from!r} is a mail system"
    subject = _header(msg, "subject")
    returned = any(t in ("message/rfc822", "text/rfc822-headers") for t in types)
    null_sender = mail_from == "" or not from_addr
    if _BOUNCE_SUBJECT.search(subject):
        if null_sender or returned:
            return f"bounce subject {subject[:60]!r} from a null sender or with the message"
        if any(_DSN_FIELDS.search(mime.payload_bytes(p)[:MAX_SCAN]) for p in _text_parts(msg)):
            return f"bounce subject {subject[:60]!r} with delivery-report fields in the text"
    return _worded_bounce(msg, subject, _local_part(from_addr))


def _worded_bounce(msg: Message, subject: str, local: str) -> str:
    """A non-delivery notice without report structure: see channels/email/heuristics.py."""
    if heuristics.forwarded(subject):
        return ""
    bounce_subject = bool(_BOUNCE_SUBJECT.search(subject)) or heuristics.notice_subject(subject)
    machine = heuristics.gateway_sender(local) or heuristics.bounces_sender(local)
    if bounce_subject and machine:
        return f"bounce subject {subject[:60]!r} from the mail system address {local!r}"
    if bounce_subject or machine:
        words = _words(msg)
        phrase = heuristics.ndr_phrase(words)
        if phrase and (machine or heuristics.machine_voice(words)):
            why = f"subject {subject[:60]!r}" if bounce_subject else f"sender {local!r}"
            return f"non-delivery wording {phrase!r} with the bounce {why}"
    return ""


def _words(msg: Message) -> str:
    """The text parts, decoded, up to what the heuristics read."""
    found: list[str] = []
    size = 0
    for part in _text_parts(msg):
        if size >= heuristics.MAX_TEXT_SCAN or mime.is_attachment(part):
            continue
        found.append(mime.part_text(part)[: heuristics.MAX_TEXT_SCAN])
        size += len(found[-1])
    return "\n".join(found)


def _text_parts(msg: Message) -> list[Message]:
    return [p for p in mime.walk(msg) if mime.content_type(p).startswith("text/")]


def _autoreply_signal(msg: Message, subject: str, answers_us: bool) -> str:
    submitted = _header(msg, "auto-submitted").lower()
    if submitted.startswith("auto-replied"):
        return "Auto-Submitted: auto-replied"
    for name in _AUTOREPLY_HEADERS:
        if msg.get(name) is not None:
            return f"{name} header"
    if "vacation" in _header(msg, "x-apple-action").lower():
        return "X-Apple-Action: VACATION"
    if _AUTOREPLY_SUBJECT.search(subject):
        return f"auto-reply subject {subject[:60]!r}"
    precedence = _header(msg, "precedence").lower().replace("-", "_")
    if precedence in ("auto_reply", "autoreply"):
        return f"Precedence: {precedence}"
    names = {key.lower() for key in msg.keys()}
    challenge = heuristics.challenge_signal(names, subject, _words(msg))
    if challenge:
        return challenge
    # Exchange puts X-Auto-Response-Suppress on its out-of-office answers, but also on plenty of
    # mail people wrote (help-desk vendors report losing real requests by filtering on it). So
    # alone it never drops a new request; on an answer to one of our own messages it marks an
    # auto-reply, which is still recorded on the ticket (internally) and just not answered.
    if answers_us and msg.get("x-auto-response-suppress") is not None:
        return "X-Auto-Response-Suppress on an answer to our message"
    return ""


def _automated_signal(msg: Message, mail_from: str | None, ours: bool) -> str:
    ctype = mime.content_type(msg)
    report = mime.param(msg, "report-type").lower()
    if ctype == "multipart/report":
        return f"machine report (multipart/report; report-type={report or '?'})"
    types = _part_types(msg)
    if "message/feedback-report" in types:
        return "abuse feedback report (message/feedback-report)"
    if "message/disposition-notification" in types:
        return "read receipt (message/disposition-notification)"
    submitted = _header(msg, "auto-submitted").lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted[:40]}"
    precedence = _header(msg, "precedence").lower()
    if precedence in ("bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    for name in _LIST_HEADERS:
        if msg.get(name) is not None:
            return f"mailing-list header {name}"
    if msg.get("feedback-type") is not None:
        return "abuse feedback report (Feedback-Type)"
    if _ABUSE_SUBJECT.search(_header(msg, "subject")):
        return "abuse complaint subject"
    if msg.get("x-amz-sns-message-id") is not None:
        return "Amazon SNS notification"
    _, from_addr = mime.first_address(msg, "from")
    if heuristics.bounces_sender(_local_part(from_addr)):
        return f"sender {from_addr!r} is a bounce-handling address"
    _, reply_to = mime.first_address(msg, "reply-to")
    if _NOREPLY_LOCAL.match(_local_part(from_addr)) and (
        not reply_to or _NOREPLY_LOCAL.match(_local_part(reply_to))
    ):
        return f"no-reply sender {from_addr!r} without a Reply-To a person reads"
    if ours:
        return "sent from one of our own support addresses (mail loop)"
    if mail_from == "":
        return "null envelope sender (MAIL FROM:<>)"
    return_path = _header(msg, "return-path").replace(" ", "")
    if mail_from is None and return_path == "<>":
        return "null sender (Return-Path: <>)"
    return ""


def classify(
    msg: Message, mail_from: str | None, ours: bool = False, answers_us: bool = False
) -> Verdict:
    """Classify a parsed message.

    `mail_from` is the envelope sender (None when unknown), `ours` says the From address is one
    of our own, `answers_us` that In-Reply-To/References name one of our messages.
    """
    from_name, from_addr = mime.first_address(msg, "from")
    subject = _header(msg, "subject")
    bounce = _bounce_signal(msg, mail_from, from_addr, from_name)
    if bounce:
        return Verdict(InboundKind.BOUNCE, bounce, returned_ids(msg))
    reply = _autoreply_signal(msg, subject, answers_us)
    if reply:
        return Verdict(InboundKind.AUTO_REPLY, reply)
    automated = _automated_signal(msg, mail_from, ours)
    if automated:
        return Verdict(InboundKind.AUTOMATED, automated)
    return Verdict(InboundKind.MESSAGE)

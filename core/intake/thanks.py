"""Is a customer's message on a resolved ticket only a thank-you? Conservative: when unsure, no.

A message counts as a thank-you when, after an optional greeting line and a short sign-off
("Best, Carol"), every word is from a small vocabulary of thanks and "it works" words, at least
one is a thanks word, it asks nothing ("?", or a clause that opens like a question) and it is
short. Anything else (a problem, a question, a word we do not know) is not a thank-you, so the
caller reopens the ticket as before. Bounded: only the first few thousand characters are read,
with linear-time patterns.
"""

from __future__ import annotations

import re

_MAX_CHARS = 4000  # read at most this much of a message
_MAX_TEXT = 300  # a thank-you is short; longer messages say something more
_MAX_WORDS = 40
_WORD = re.compile(r"[^\W\d_]+|\d+")  # letters (any script) or digits, nothing else
_CLAUSE = re.compile(r"[.,;:!\n]+")
_QUOTED_REPLY = re.compile(r"^(?:>|on .{0,200} wrote:|-{2,}\s*$|_{5,})", re.IGNORECASE)

THANKS = frozenset(
    "thanks thank thx ty tyvm tysm cheers appreciated appreciate kudos "
    "danke dank dankeschön merci gracias grazie obrigado obrigada bedankt dankjewel dankuwel "
    "tack takk tak kiitos dziękuję dzięki děkuji köszönöm mulțumesc teşekkürler teşekkür "
    "спасибо дякую ευχαριστώ תודה شكرا ありがとう ありがとうございます ありがとうございました "
    "谢谢 多谢 감사합니다 고맙습니다".split()
)
# Words that may sit beside a thanks word in a thank-you: "works now", "all good", "you rock".
_CONTENT = frozenset(
    # English
    "you all a lot lots so very much many really indeed again too for your the this that it "
    "its s is was it's works working worked work fixed fix solved resolved sorted done good "
    "great perfect awesome excellent brilliant wonderful amazing fantastic nice cool super "
    "ok okay fine now yes yep yeah confirmed confirm everything seems looks like back up and "
    "running help quick fast response reply support team guys everyone folks i we me my our on "
    "end side did trick charm close closed feel free to can be well rock star stars once more "
    "best regards kind warm br many hi hello hey dear "
    # German
    "vielen schön super jetzt geht es wieder funktioniert alles gut klappt perfekt toll sehr "
    "besten gruß grüße lg mfg hallo prima erledigt "
    # French
    "beaucoup ça ca marche fonctionne maintenant tout est bon parfait génial c résolu bien "
    "mille bonjour cordialement "
    # Spanish, Italian, Portuguese
    "muchas ya funciona todo bien perfecto genial resuelto listo está esta hola saludos "
    "grazie tante ora tutto perfetto risolto posto ciao "
    "muito agora tudo certo bem resolvido olá "
    # Dutch, Scandinavian
    "wel je het werkt weer goed nu top opgelost groeten "
    "så mycket fungerar det virker funker hej".split()
)
_GREETING = frozenset("hi hello hey dear hallo hej hola bonjour ciao olá".split())
# A clause opening like these asks something even without a "?".
_ASKS = frozenset(
    "is are can could would will do does did should shall may have has how why what when "
    "where who which any anything wie warum was wann wo ist kann pourquoi comment quand "
    "est-ce qué cómo cuándo por".split()
)
_FAREWELL = re.compile(r"\bhave a (?:nice|good|great|lovely) (?:day|evening|weekend)\b")


def _new_text(text: str) -> list[str]:
    """The lines the customer wrote now: above any quoted earlier message or signature."""
    lines = []
    for line in text[:_MAX_CHARS].splitlines():
        if _QUOTED_REPLY.match(line.strip()):
            break
        if line.strip():
            lines.append(line.strip())
    return lines


def _is_sign_off(line: str) -> bool:
    """A short closing line with a name: "Carol", "Best, Carol", "— Carol"."""
    words = _WORD.findall(line)
    if not 1 <= len(words) <= 3 or any(word.isdigit() for word in words):
        return False
    name = words[-1]
    return name[:1].isupper() and not (len(name) > 1 and name.isupper())


def is_thanks(text: str) -> bool:
    """True only for a short thank-you that reports no problem and asks nothing."""
    lines = _new_text(text)
    first = _WORD.findall(lines[0]) if lines else []
    if len(lines) > 1 and first and first[0].casefold() in _GREETING and len(first) <= 3:
        lines = lines[1:]  # "Hi Alice,"
    if len(lines) > 1 and _is_sign_off(lines[-1]):
        lines = lines[:-1]  # "Best, Carol"
    body = "\n".join(lines).casefold()
    if not body or len(body) > _MAX_TEXT or "?" in body or "¿" in body:
        return False
    body = _FAREWELL.sub(".", body)
    words = _WORD.findall(body)
    if not words or len(words) > _MAX_WORDS:
        return False
    if not any(word in THANKS for word in words):
        return False
    if any(word not in THANKS and word not in _CONTENT for word in words):
        return False
    return not any((_WORD.findall(clause) or [""])[0] in _ASKS for clause in _CLAUSE.split(body))

"""A ticket's distinctive words: what similarity compares and indexes (pure, bounded work).

Customer text is hostile: only its first READ_CHARS characters are read, with one linear
regex, so any message costs the same bounded time."""

from __future__ import annotations

import re

READ_CHARS = 2000
WORDS_KEPT = 40  # compared with rapidfuzz; stored in similar_texts.words (400 characters)
KEY_WORDS = 12  # index keys per ticket: the first distinctive words, the subject's first
KEY_LENGTH = 12  # a key is a word's first characters: "logging" and "logged" share "logg…"
_WORD = re.compile(r"\w+")
# Words every ticket has: they say nothing about which problem it is. English only: other
# languages' short words still count, which costs some precision, never a match.
STOP = frozenset(
    """about after afternoon again all also and any are been before best but can cannot could
    dear did does doing don done evening for from get gets getting got had has have having
    hello help her here him his how issue just let like many may more morning most much must
    not now off once only other our out over own please problem regards same she should since
    some still such than thank thanks that the their them then there these they this those
    through ticket today too tried try trying under until very was way were what when where
    which while who why will with work working would yes yet you your yours""".split()
)


def distinctive_words(subject: str, message: str) -> list[str]:
    """Lower-case words of three or more characters, stop words left out, each once, in the
    order they first appear (the subject's first), at most WORDS_KEPT."""
    text = f"{subject[:READ_CHARS]}\n{message[:READ_CHARS]}".lower()
    kept: dict[str, None] = {}
    for word in _WORD.findall(text):
        if len(word) >= 3 and word not in STOP and not word.startswith("_"):
            kept.setdefault(word[:40], None)
            if len(kept) >= WORDS_KEPT:
                break
    return list(kept)


def joined(words: list[str]) -> str:
    """The words as stored and compared: space separated, within the column's 400."""
    text = " ".join(words)
    return text if len(text) <= 400 else text[:400].rsplit(" ", 1)[0]


def index_keys(words: list[str]) -> list[str]:
    """The keys a ticket is filed under: its first KEY_WORDS words, shortened, each once."""
    return list(dict.fromkeys(word[:KEY_LENGTH] for word in words[:KEY_WORDS]))


def common_title(subjects: list[str], limit: int = 200) -> str:
    """An incident title from similar tickets' subjects: the words most of them share, in the
    order they first appear; the first subject when they share none."""
    seen: dict[str, str] = {}
    counts: dict[str, int] = {}
    for subject in subjects:
        for word in dict.fromkeys(re.findall(r"\S+", subject[:READ_CHARS])):
            key = word.lower().strip(".,:;!?()[]\"'")
            if key and key not in STOP and not key.startswith(("re:", "fwd:")):
                seen.setdefault(key, word.strip(".,:;!?()[]\"'"))
                counts[key] = counts.get(key, 0) + 1
    shared = [seen[key] for key in seen if counts[key] * 2 > len(subjects)]
    title = " ".join(shared) if shared else (subjects[0] if subjects else "")
    title = " ".join(title.split()) or "Possible incident"
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"

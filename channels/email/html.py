"""HTML mail to readable plain text (stdlib parser; quotes kept as "> " for quotes.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = {"script", "style", "head", "title", "template", "noscript", "xml"}
# Paragraph-like elements leave a blank line; line-like ones just end the line.
_PARAGRAPH = {
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "blockquote",
    "table",
    "ul",
    "ol",
    "dl",
    "hr",
    "address",
    "figure",
}
_LINE = {
    "div",
    "tr",
    "li",
    "dt",
    "dd",
    "section",
    "article",
    "header",
    "footer",
    "center",
    "form",
    "fieldset",
    "main",
    "nav",
    "aside",
    "figcaption",
}
_SPACES = re.compile(r"[ \t\r\n\f\u00a0]+")
MAX_LINES = 20000


class _TextMaker(HTMLParser):
    """Collects lines of text; each line carries the blockquote depth it was written at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.quote = 0
        self.pre = 0
        self.links: list[str] = []

    def end_line(self, *, blank: bool = False, force: bool = False) -> None:
        joined = "".join(self.current)
        text = joined.rstrip() if self.pre else joined.strip()
        self.current = []
        if len(self.lines) >= MAX_LINES:
            return
        prefix = "> " * self.quote
        if text or force:
            self.lines.append(f"{prefix}{text}".rstrip())
        if blank and self.lines and self.lines[-1].strip("> "):
            self.lines.append(prefix.rstrip())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        if tag == "br":
            self.end_line(force=not "".join(self.current).strip())
        elif tag in _PARAGRAPH:
            self.end_line(blank=True)
        elif tag in _LINE:
            self.end_line()
        if tag == "blockquote":
            self.quote += 1
        elif tag == "pre":
            self.pre += 1
        elif tag == "li":
            self.current.append("- ")
        elif tag in ("td", "th") and "".join(self.current).strip():
            self.current.append(" ")
        elif tag == "a":
            self.links.append(dict(attrs).get("href") or "")
        elif tag == "img" and dict(attrs).get("alt"):
            self.current.append(f"[{dict(attrs)['alt']}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag == "a" and self.links:
            href = self.links.pop()
            if href.startswith(("http://", "https://")) and href not in "".join(self.current):
                self.current.append(f" ({href})")
        if tag in _PARAGRAPH:
            self.end_line(blank=True)
        elif tag in _LINE:
            self.end_line()
        if tag == "blockquote":
            self.quote = max(0, self.quote - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            self.current.append(_SPACES.sub(" ", data))
            return
        *complete, rest = data.split("\n")
        for piece in complete:
            self.current.append(piece)
            self.end_line(force=True)
        self.current.append(rest)


def html_to_text(markup: str) -> str:
    """Readable text from an HTML body: paragraphs and line breaks kept, links shown once."""
    maker = _TextMaker()
    try:
        maker.feed(markup)
        maker.close()
        maker.end_line()
    except Exception:
        # The stdlib parser is forgiving; if it still gives up, strip tags the crude way.
        return _SPACES.sub(" ", re.sub(r"<[^>]*>", " ", markup)).strip()
    lines = [re.sub(r"(?<=\S) {2,}", " ", line) for line in maker.lines]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()

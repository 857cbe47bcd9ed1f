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
_MARKED_SECTION_END = re.compile(r"\]\s*\]\s*>")
MAX_LINES = 20000
MAX_QUOTE_MARKS = 10  # "> " per line at most, however deep hostile markup nests blockquotes
MAX_MARKUP = 2_000_000  # characters of HTML read; the text kept is clipped far below that


def _defuse(markup: str) -> str:
    """The markup with openers that are never closed written as text (`&lt;`).

    The stdlib parser rescans from every unclosed `<`, `<!--` or `<![` to the end of the
    input, so a body of nothing but such openers took minutes to read; it shows them as text
    anyway. An opener after the last possible closer can never be closed, which one pass finds.
    """
    last_tag_end = markup.rfind(">")
    head, tail = markup[: last_tag_end + 1], markup[last_tag_end + 1 :].replace("<", "&lt;")
    comment_end = head.rfind("-->")
    if "<!--" in head[comment_end + 1 :]:
        cut = comment_end + 1
        head = head[:cut] + head[cut:].replace("<!--", "&lt;!--")
    section_end = 0
    for found in _MARKED_SECTION_END.finditer(head):
        section_end = found.end()
    if "<![" in head[section_end:]:
        head = head[:section_end] + head[section_end:].replace("<![", "&lt;![")
    return head + tail


class _TextMaker(HTMLParser):
    """Collects lines of text; each line carries the blockquote depth it was written at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.quote = 0
        self.pre = 0
        # (href, where the link's text starts in `current`) of each open <a>
        self.links: list[tuple[str, int]] = []

    def end_line(self, *, blank: bool = False, force: bool = False) -> None:
        joined = "".join(self.current)
        text = joined.rstrip() if self.pre else joined.strip()
        self.current = []
        if len(self.lines) >= MAX_LINES:
            return
        prefix = "> " * min(self.quote, MAX_QUOTE_MARKS)
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
            self.links.append((dict(attrs).get("href") or "", len(self.current)))
        elif tag == "img" and dict(attrs).get("alt"):
            self.current.append(f"[{dict(attrs)['alt']}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if tag == "a" and self.links:
            href, start = self.links.pop()
            # Shown unless the link's own text already is the address. Only that text is
            # searched: searching the whole line for every link made a line of links quadratic.
            if href.startswith(("http://", "https://")) and href not in "".join(
                self.current[start:]
            ):
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
    markup = markup[:MAX_MARKUP]
    maker = _TextMaker()
    try:
        maker.feed(_defuse(markup))
        maker.close()
        maker.end_line()
    except Exception:
        # The stdlib parser is forgiving; if it still gives up, strip tags the crude way.
        return _SPACES.sub(" ", re.sub(r"<[^<>]*>", " ", markup)).strip()
    lines = [re.sub(r"(?<=\S) {2,}", " ", line) for line in maker.lines]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()

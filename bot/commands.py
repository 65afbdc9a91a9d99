"""Mention text -> a request for a picture, or nothing.

Mastodon sends HTML and X sends plain text. Both are reduced to plain words: tags stripped,
@handles removed, control and bidirectional-override characters dropped, NFKC-normalised
(so full-width letters and compatibility forms match) and case-folded. A mention is a request
when a trigger phrase, normalised the same way, occurs in it as whole words.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser

MAX_TEXT = 2000  # a status is at most a few thousand characters; anything longer is cut first

_HANDLE = re.compile(r"(?<![\w@])@[\w.\-]+(?:@[\w.\-]+)?", re.UNICODE)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Request:
    """A request for one picture. Only the normalised text is kept; nothing else is needed."""

    text: str
    trigger: str


class _TextExtractor(HTMLParser):
    """Collects text; block elements and <br> become spaces so words do not run together."""

    BREAKS = frozenset({"br", "p", "div", "li", "blockquote", "pre", "h1", "h2", "h3"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag in self.BREAKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        if tag in self.BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def strip_html(text: str) -> str:
    parser = _TextExtractor()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError):  # malformed markup: fall back to unescaped text
        return html.unescape(re.sub(r"<[^>]*>", " ", text))
    return "".join(parser.parts)


def _visible(ch: str) -> str:
    """Control (Cc), format (Cf: bidi overrides, zero-width) and unassigned characters go."""
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Cf", "Cn", "Co", "Cs"):
        return " " if ch in "\t\n\r\x0b\x0c" else ""
    return ch


def normalise(text: str) -> str:
    """NFKC, case-folded, handles removed, invisible characters dropped, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text[: MAX_TEXT * 2])
    text = "".join(_visible(ch) for ch in text)
    text = _HANDLE.sub(" ", text).casefold()
    return _SPACE.sub(" ", text).strip()[:MAX_TEXT]


def _contains_phrase(text: str, phrase: str) -> bool:
    if not phrase:
        return False
    if any(unicodedata.category(c).startswith("L") and ord(c) > 0x2E80 for c in phrase):
        return phrase in text  # CJK has no spaces between words
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def parse(text: str, triggers: list[str], is_html: bool = False) -> Request | None:
    """The request in a mention, or None when no trigger phrase is in it."""
    if not text:
        return None
    plain = normalise(strip_html(text[: MAX_TEXT * 4]) if is_html else text)
    for trigger in triggers:
        if _contains_phrase(plain, normalise(trigger)):
            return Request(plain, trigger)
    return None

"""Mention text -> a request for a picture, or nothing.

Mastodon sends HTML and X sends plain text. Both are reduced to plain words: tags stripped,
@handles removed, control and bidirectional-override characters dropped, NFKC-normalised
(so full-width letters and compatibility forms match) and case-folded. A mention is a request
when a trigger phrase, normalised the same way, occurs in it as whole words, anywhere in the
whole text: every step is linear in the text's length (the HTML parser, NFKC, one regular
expression per phrase with no nested repetition), so a long text costs time in proportion,
never a cut that hides a trigger. A request is answered in the language of the phrase that
matched ("create a human image for ユキ" in English); only a phrase that has none (an
operator's emoji trigger) leaves it to the rest of the text.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser

_HANDLE = re.compile(r"(?<![\w@])@[\w.\-]+(?:@[\w.\-]+)?", re.UNICODE)
_SPACE = re.compile(r"\s+")


# What a reply to one of the bot's pictures can ask, in the order they are looked for (the
# first found wins: "delete" beats everything, a plain "again" loses to "more like this").
# "help" works in a new mention too, where a trigger phrase goes first.
REPLY_COMMANDS = ("delete", "help", "morph", "variations", "again")
DRAWING_COMMANDS = ("morph", "variations", "again")  # draw from the picture replied to
DEFAULT_COMMANDS: dict[str, list[str]] = {
    "again": ["again", "another one", "もう一回"],
    "variations": ["more like this", "variations", "似たのを"],
    "morph": ["morph", "animate", "動かして"],
    "delete": ["delete", "消して"],
    "help": ["help", "ヘルプ"],
}
# "like #12" works anywhere, in a reply or a new mention; {n} stands for the seed number
DEFAULT_LIKE = ["like #{n}", "#{n}みたいに"]
# After a command phrase, a number names one picture of a four-picture reply. Any number is
# read, so that one the post does not have ("morph 9") can be answered, not taken for 1.
_PICK = re.compile(r"\s*#?(\d+)")
_NO_SUCH_PICK = 10**9  # what a number too long to read stands for: no post has it
# Kana is only written in Japanese (Chinese has none, so kanji alone decide nothing): a phrase
# with kana is Japanese. Kana letters only: "ー" and "・" are borrowed by symbols and kaomoji.
# Another language adds its test here.
_KANA = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u31f0-\u31ff\uff66-\uff6f\uff71-\uff9d]")
_LATIN = re.compile(r"[A-Za-z]")
# A Japanese word in a text: two or more kana or kanji together (so not the lone ﾉ or ヮ of a
# kaomoji), counted when it holds a kana letter
_JAPANESE_RUN = re.compile(r"[\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fc-\u30fe"
                           r"\u31f0-\u31ff\u3005\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9d]{2,}")


@dataclass(frozen=True)
class Request:
    """What a mention asks for. Only the normalised text is kept; nothing else is needed.

    command: picture (a trigger phrase), again, variations, morph, delete, help (replies to
    one of the bot's pictures) or like (a good seed by number, anywhere)."""

    text: str
    trigger: str  # the phrase that matched
    command: str = "picture"
    seed_id: int | None = None  # like: the good seed asked for
    pick: int | None = None  # which picture of a four-picture post the command means (1-4)
    lang: str = "en"  # the language of the phrase that matched: every answer is in it
    kind: str | None = None  # picture: the kind of person asked for ("cook"; conversation.kinds)
    tone: str | None = None  # picture: the skin tone asked for ("medium-dark")

    @property
    def pictures(self) -> int:
        """Pictures the answer carries (what the per-user limit and the media budget count)."""
        return {"variations": 4, "delete": 0, "help": 0}.get(self.command, 1)


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
    text = unicodedata.normalize("NFKC", text)
    text = "".join(_visible(ch) for ch in text)
    text = _HANDLE.sub(" ", text).casefold()
    return _SPACE.sub(" ", text).strip()


def phrase_language(phrase: str) -> str | None:
    """The language a trigger or command phrase is written in: "ja" (it has kana), "en" (latin
    letters, no kana), or None when it says nothing (emoji, digits, kanji alone). "{n}", the
    place of a seed number in "like #{n}", is no letter."""
    phrase = phrase.replace("{n}", "")
    return "ja" if _KANA.search(phrase) else "en" if _LATIN.search(phrase) else None


def language(text: str) -> str:
    """The language of a whole text, for a phrase that says none: "ja" when its Japanese words
    (runs of kana and kanji with a kana among them) hold more characters than it has latin
    letters, else "en". A lone "ー" or a kaomoji's ﾉ is no word; a name in kana ("ユキ") does
    not outweigh an English sentence."""
    japanese = sum(len(run) for run in _JAPANESE_RUN.findall(text) if _KANA.search(run))
    return "ja" if japanese > len(_LATIN.findall(text)) else "en"


def is_cjk(phrase: str) -> bool:
    return any(unicodedata.category(c).startswith("L") and ord(c) > 0x2E80 for c in phrase)


def find_phrase(text: str, phrase: str) -> re.Match[str] | None:
    """Where the (normalised) phrase occurs as whole words; CJK has no spaces between words."""
    if not phrase:
        return None
    return _phrase_pattern(phrase).search(text)


@functools.lru_cache(maxsize=4096)  # the kinds table alone has more phrases than re caches
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    if is_cjk(phrase):
        return re.compile(re.escape(phrase))
    return re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)")


@functools.lru_cache(maxsize=64)
def like_pattern(phrase: str) -> re.Pattern[str]:
    """'like #{n}' -> a pattern whose group 1 is the number, matched like a phrase."""
    before, _, after = normalise(phrase).partition("{n}")
    body = re.escape(before) + r"(\d{1,9})" + re.escape(after)
    if is_cjk(phrase):
        return re.compile(body)
    return re.compile(rf"(?<![\w#]){body}(?!\w)" if before else rf"{body}(?!\w)")


def parse(text: str, triggers: list[str], is_html: bool = False, *,
          commands: dict[str, list[str]] | None = None, like: list[str] | None = None,
          reply_to_picture: bool = False) -> Request | None:
    """What the mention asks for, or None when it asks nothing the bot knows.

    reply_to_picture: the mention answers one of the bot's posts, so the reply commands
    count; elsewhere "again" or "delete" are only words. like (a seed by number) counts
    anywhere, then a trigger phrase asks for a new picture; "help" counts anywhere too, last
    in a new mention so that "help me: create a human image" draws."""
    if not text:
        return None
    plain = normalise(strip_html(text) if is_html else text)
    commands = DEFAULT_COMMANDS if commands is None else commands
    if reply_to_picture:  # delete and help first, then "like #12" (the most specific)
        order: tuple[str, ...] = (*REPLY_COMMANDS[:2], "like", *REPLY_COMMANDS[2:], "trigger")
    else:
        order = ("like", "trigger", "help")
    for command in order:
        request = _find(plain, command, triggers, commands, like)
        if request is not None:  # answered in the language of the phrase it matched
            lang = phrase_language(request.trigger) or language(plain)
            return dataclasses.replace(request, lang=lang)
    return None


def _find(plain: str, command: str, triggers: list[str],
          commands: dict[str, list[str]], like: list[str] | None) -> Request | None:
    """The request for one command (or a trigger phrase) if the text holds one of its
    phrases."""
    if command == "like":
        for phrase in DEFAULT_LIKE if like is None else like:
            found = like_pattern(phrase).search(plain)
            if found is not None:
                return Request(plain, phrase, "like", seed_id=int(found.group(1)))
        return None
    if command == "trigger":
        for trigger in triggers:
            if find_phrase(plain, normalise(trigger)) is not None:
                return Request(plain, trigger)
        return None
    for phrase in commands.get(command, []):
        found = find_phrase(plain, normalise(phrase))
        if found is not None:
            pick = _PICK.match(plain, found.end())
            number = pick.group(1) if pick else None
            return Request(plain, phrase, command, pick=None if number is None else
                           int(number) if len(number) <= 9 else _NO_SUCH_PICK)
    return None

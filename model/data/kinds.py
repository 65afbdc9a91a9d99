"""The kinds of person the bot can be asked for, and the five skin tones: kinds.json as objects.

A kind is an emoji person concept with gender and skin tone stripped ("cook" draws 🧑‍🍳, 👨‍🍳
and 👩‍🍳 in every tone), named by its CLDR short name, with the English and Japanese words
that ask for it. The table is data (model/data/kinds.json), edited by hand; this module reads and
checks it, and maps emoji code sequences and the built-in data set's file names to a kind.

    kinds = load_kinds()
    kinds.of_emoji("1F469-1F3FE-200D-1F373").name   # "cook"
    kinds.tone_of_codes("1F469-1F3FE-200D-1F373")     # "medium-dark"
    kinds.label_of_file("0123_person-role_1F469-1F3FB-200D-1F373.png")  # Label("cook", ...)

Standard library only, and no other model module but the one-line UserError: the bot's pure
parts (which load no torch) get this data through the service, and a test imports it alone.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.errors import UserError

KINDS_FILE = Path(__file__).with_name("kinds.json")
TONES = ("light", "medium-light", "medium", "medium-dark", "dark")  # the five modifiers
# The flat emoji styles of the vector data set (model.data.vectors), in class-index order.
STYLES = ("noto", "twemoji", "fluent")
SKIN_TONES = frozenset({"1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"})  # Fitzpatrick modifiers
VARIATION_SELECTOR = "FE0F"  # "draw as emoji": present or not, the same emoji
ZWJ = "200D"
# The built-in set's file names: 0123_person-role_1F469-1F3FB-200D-1F373.png (model.data)
EMOJI_FILE_NAME = re.compile(
    r"^\d+_(?P<subgroup>[a-z-]+)_(?P<codes>[0-9A-F]{4,6}(?:-[0-9A-F]{4,6})*)$")
_CODES = re.compile(r"^(?:U\+)?[0-9A-Fa-f]{4,6}(?:[\s\-]+(?:U\+)?[0-9A-Fa-f]{4,6})*$")
_SEQUENCE = re.compile(r"^[0-9A-F]{4,6}(?:-[0-9A-F]{4,6})*$")


@dataclass(frozen=True)
class Label:
    """What a good seed draws: set from its nearest training picture when it is kept, shown
    and edited in the explorer, read by the bot to answer "a cook, medium-dark skin tone".

    kind: the emoji person concept with gender and tone stripped ("cook", "person bowing":
    model/data/kinds.json); subgroup: its emoji-test.txt subgroup ("person-role"); tone: one of
    TONES, or "" for the default yellow (no modifier); source: how the label was set (the
    nearest training picture's file name, or "explorer"); style: the emoji set the picture is
    drawn in (STYLES: "noto", "twemoji", "fluent"), or "" when the data had one style."""

    kind: str = ""
    subgroup: str = ""
    tone: str = ""
    source: str = ""
    style: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"kind": self.kind, "subgroup": self.subgroup, "tone": self.tone,
               "source": self.source}
        if self.style:  # only when set: labels of one-style generators read as before
            out["style"] = self.style
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Label:
        if not isinstance(data, dict):
            raise ValueError(f"a label is an object, got {type(data).__name__}")
        tone = str(data.get("tone") or "")
        if tone and tone not in TONES:
            raise ValueError(f"tone {tone!r} is not one of {', '.join(TONES)} or empty")
        style = str(data.get("style") or "")
        if style and style not in STYLES:
            raise ValueError(f"style {style!r} is not one of {', '.join(STYLES)} or empty")
        return cls(str(data.get("kind") or ""), str(data.get("subgroup") or ""), tone,
                   str(data.get("source") or ""), style)


@dataclass(frozen=True)
class Kind:
    name: str  # the CLDR neutral short name, used in English replies
    subgroup: str  # its emoji-test.txt subgroup: person, person-gesture, person-role, ...
    emoji: tuple[str, ...]  # base sequences that draw it: "1F469-200D-1F373" (no tone, FE0F)
    en: tuple[str, ...]  # English phrases that ask for it, the name first
    ja: tuple[str, ...]  # Japanese phrases, the first used in replies


@dataclass(frozen=True)
class Tone:
    name: str  # one of TONES
    modifier: str  # its code point, "1F3FF"
    en: tuple[str, ...]  # English phrases that ask for it ("dark skin", "dark-skinned")
    ja: tuple[str, ...]  # Japanese phrases (濃い肌, 褐色の肌)
    display_en: str  # "dark skin tone"
    display_ja: str  # "濃い肌"


def code_points(codes: str) -> list[str]:
    """'1F469-1F3FD-200D-1F373', '1F469 1F3FD 200D 1F373', 'U+1F469 ...' or the emoji
    characters themselves -> ['1F469', '1F3FD', '200D', '1F373']."""
    text = codes.strip()
    if _CODES.match(text):
        return [c.upper().removeprefix("U+") for c in re.split(r"[\s\-]+", text)]
    return [f"{ord(ch):04X}" for ch in text if not ch.isspace()]


def base_sequence(codes: str) -> str:
    """The sequence with tone modifiers and FE0F removed, '-'-joined: a key of kinds.json."""
    return "-".join(c for c in code_points(codes) if c not in SKIN_TONES
                    and c != VARIATION_SELECTOR)


@dataclass(frozen=True)
class Kinds:
    kinds: tuple[Kind, ...]
    tones: tuple[Tone, ...]
    _by_name: dict[str, Kind] = field(default_factory=dict, repr=False, compare=False)
    _by_emoji: dict[str, Kind] = field(default_factory=dict, repr=False, compare=False)
    _by_loose: dict[str, Kind] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({k.name.casefold(): k for k in self.kinds})
        self._by_emoji.update({e: k for k in self.kinds for e in k.emoji})
        # Without the joiner too: text normalised like the bot's commands (format characters
        # dropped) turns 🧑‍🍳 into 🧑🍳, and that should still ask for a cook.
        self._by_loose.update({_loose(e): k for k in self.kinds for e in k.emoji})

    def get(self, name: str) -> Kind | None:
        """The kind of that name (case-insensitive), or None."""
        return self._by_name.get(name.casefold())

    def tone(self, name: str) -> Tone | None:
        return next((t for t in self.tones if t.name == name), None)

    def of_emoji(self, codes: str) -> Kind | None:
        """The kind an emoji draws, in any tone or gender: codes as '1F469-1F3FD-200D-1F373',
        with spaces, or the characters; None for an emoji that is no kind of person."""
        base = base_sequence(codes)
        return self._by_emoji.get(base) or self._by_loose.get(_loose(base))

    def tone_of_codes(self, codes: str) -> str:
        """The tone of the first modifier in the sequence, "" when it has none (yellow)."""
        points = code_points(codes)
        return next((t.name for c in points for t in self.tones if t.modifier == c), "")

    def label_of_file(self, file_name: str) -> Label | None:
        """(kind, subgroup, tone, style) of a built-in emoji file (0123_person-role_1F469-1F3FB-
        200D-1F373.png, in a folder or not; in a folder named for a style, twemoji/0123_...,
        that style), source left empty; None for another name. An emoji kinds.json does not
        know keeps its subgroup and tone, with kind ""."""
        parts = file_name.split("/")
        stem = parts[-1].rsplit(".", 1)[0]
        match = EMOJI_FILE_NAME.match(stem)
        if match is None:
            return None
        codes = match.group("codes")
        kind = self.of_emoji(codes)
        # The vector set keeps one folder per style (noto/0123_...png): the folder is the style
        style = parts[-2] if len(parts) > 1 and parts[-2] in STYLES else ""
        return Label(kind.name if kind else "", kind.subgroup if kind else match.group(
            "subgroup"), self.tone_of_codes(codes), "", style)


def _loose(sequence: str) -> str:
    return "-".join(c for c in sequence.split("-") if c != ZWJ)


def load_kinds(path: Path | str | None = None) -> Kinds:
    """The kinds table (default: kinds.json beside this module), read once per path; a
    malformed file is a one-line UserError naming it and the problem."""
    return _load(str(Path(path) if path is not None else KINDS_FILE))


@functools.lru_cache(maxsize=8)
def _load(path: str) -> Kinds:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return _parse(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        problem = " ".join(str(exc).split())  # one line, whatever the exception said
        raise UserError(f"kinds file {path} is malformed ({problem}); fix it or restore it "
                        "from git") from None


def _parse(data: dict[str, Any]) -> Kinds:
    """kinds.json's object -> Kinds, or ValueError saying what is wrong and where."""
    if not isinstance(data, dict) or not isinstance(data.get("kinds"), list):
        raise ValueError('no "kinds" list at the top level')
    kinds = tuple(_kind(k, i) for i, k in enumerate(data["kinds"]))
    tones = tuple(_tone(t, i) for i, t in enumerate(data.get("tones") or []))
    if tuple(t.name for t in tones) != TONES:
        raise ValueError(f'"tones" must name {", ".join(TONES)} in that order, got '
                         f"{', '.join(t.name for t in tones) or 'none'}")
    if {t.modifier for t in tones} != SKIN_TONES:
        raise ValueError(f"the tones' modifiers must be {', '.join(sorted(SKIN_TONES))}")
    _unique("kind name", [(k.name.casefold(), f"kind {i}") for i, k in enumerate(kinds)])
    _unique("emoji", [(e, k.name) for k in kinds for e in k.emoji])
    _unique("phrase", [(p.casefold(), k.name) for k in kinds for p in (*k.en, *k.ja)]
            + [(p.casefold(), t.name) for t in tones for p in (*t.en, *t.ja)])
    return Kinds(kinds, tones)


def _strings(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    values = entry.get(key)
    if (not isinstance(values, list) or not values
            or not all(isinstance(v, str) and v.strip() for v in values)):
        raise ValueError(f'{where}: "{key}" must be a non-empty list of non-empty strings')
    return tuple(values)


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'{where}: "{key}" must be a non-empty string')
    return value


def _kind(entry: dict[str, Any], i: int) -> Kind:
    if not isinstance(entry, dict):
        raise ValueError(f"kind {i} is not an object")
    where = f"kind {i} ({entry.get('name')!r})"
    kind = Kind(_text(entry, "name", where), _text(entry, "subgroup", where),
                _strings(entry, "emoji", where), _strings(entry, "en", where),
                _strings(entry, "ja", where))
    bad = [e for e in kind.emoji if not _SEQUENCE.match(e) or base_sequence(e) != e]
    if bad:
        raise ValueError(f"{where}: emoji {bad[0]!r} is not upper-case hex joined by '-' "
                         "without tone modifiers and FE0F")
    if kind.en[0].casefold() != kind.name.casefold():
        raise ValueError(f'{where}: "en" must start with the name')
    return kind


def _tone(entry: dict[str, Any], i: int) -> Tone:
    if not isinstance(entry, dict):
        raise ValueError(f"tone {i} is not an object")
    where = f"tone {i} ({entry.get('name')!r})"
    return Tone(_text(entry, "name", where), _text(entry, "modifier", where),
                _strings(entry, "en", where), _strings(entry, "ja", where),
                _text(entry, "display_en", where), _text(entry, "display_ja", where))


def _unique(what: str, pairs: list[tuple[str, str]]) -> None:
    """Each key has one owner: a phrase that asked for two kinds could draw either."""
    seen: dict[str, str] = {}
    for key, owner in pairs:
        if seen.setdefault(key, owner) != owner:
            raise ValueError(f"{what} {key!r} is given to both {seen[key]!r} and {owner!r}")

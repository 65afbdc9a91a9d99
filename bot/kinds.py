"""What kind of person a mention asks for, and the names of kinds and skin tones in replies.

People may name a kind and a skin tone anywhere in a request, in words or in emoji:
"create a human image of a cook", "... 🧑‍🍳", "コックの人間の画像を作って", "... with dark skin",
"... 🏾", "... 🧑🏾‍🍳". The words and emoji come from the kinds table (model/data/kinds.json,
read by model.serve.load_kinds); the service builds a `Vocabulary` from it once and hands it to
the pure parts.
This module loads no torch and no model: it takes any objects with the table's fields.

Matching follows the trigger rules: words NFKC-normalised, case-folded, whole words anywhere
(CJK: anywhere), and the most specific (longest) phrase wins, so "medium-dark skin" is not
"dark skin" and "police officer" is not "officer". Emoji are read before normalisation, which
drops the zero-width joiner that holds "🧑‍🍳" together: a whole joined sequence must be a kind's
(a family emoji is nobody's "person"), with its tone modifiers and FE0F set aside.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.commands import find_phrase, normalise, strip_html

_ZWJ = "\u200d"
_VS16 = "\ufe0f"
_MODIFIERS = range(0x1F3FB, 0x1F400)  # the five Fitzpatrick skin-tone modifiers


@dataclass(frozen=True)
class Vocabulary:
    """The words and emoji that ask for a kind or a tone, and how replies name them."""

    phrases: tuple[tuple[str, str], ...] = ()  # (normalised phrase, kind), longest first
    emoji: dict[str, str] = field(default_factory=dict)  # "1F9D1-200D-1F373" -> kind
    tone_phrases: tuple[tuple[str, str], ...] = ()  # (normalised phrase, tone), longest first
    modifiers: dict[str, str] = field(default_factory=dict)  # "1F3FE" -> tone
    names: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> lang -> name
    tone_names: dict[str, dict[str, str]] = field(default_factory=dict)  # tone -> lang -> name
    subgroups: dict[str, str] = field(default_factory=dict)  # kind -> emoji subgroup

    @classmethod
    def build(cls, kinds: Iterable[Any], tones: Iterable[Any]) -> Vocabulary:
        """From the kinds table: Kind(name, subgroup, emoji, en, ja) and
        Tone(name, modifier, en, ja, display_en, display_ja) objects."""
        phrases: dict[str, str] = {}
        emoji: dict[str, str] = {}
        names, subgroups = {}, {}
        for kind in kinds:
            for phrase in (*kind.en, *kind.ja):
                phrases.setdefault(normalise(phrase), kind.name)
            for codes in kind.emoji:
                emoji[_key(codes)] = kind.name
            names[kind.name] = {"en": kind.name, "ja": kind.ja[0] if kind.ja else kind.name}
            subgroups[kind.name] = kind.subgroup
        tone_phrases: dict[str, str] = {}
        modifiers, tone_names = {}, {}
        for tone in tones:
            for phrase in (*tone.en, *tone.ja):
                tone_phrases.setdefault(normalise(phrase), tone.name)
            modifiers[_key(tone.modifier)] = tone.name
            tone_names[tone.name] = {"en": tone.display_en, "ja": tone.display_ja}
        return cls(_longest_first(phrases), emoji, _longest_first(tone_phrases), modifiers,
                   names, tone_names, subgroups)

    def name(self, kind: str, lang: str) -> str:
        """A kind as replies name it: "cook", "コック" (an unknown kind: as labelled)."""
        return self.names.get(kind, {}).get(lang) or kind

    def tone_name(self, tone: str, lang: str) -> str:
        """A tone as replies name it: "medium-dark skin tone", "やや濃い肌"."""
        return self.tone_names.get(tone, {}).get(lang) or tone


EMPTY = Vocabulary()  # no kinds table: every request is a plain one


@dataclass(frozen=True)
class Wish:
    """The kind and skin tone a request names (None: not named)."""

    kind: str | None = None
    tone: str | None = None


def wish(text: str, vocabulary: Vocabulary, is_html: bool = False, trigger: str = "") -> Wish:
    """The kind and tone a mention's text asks for. Emoji name them more exactly than words,
    so an emoji kind or a modifier wins over a word; among words the longest phrase wins.
    The trigger phrase that made it a request is not read for words: an operator's trigger
    "draw a person" asks for a picture, not for the kind "person"."""
    raw = unicodedata.normalize("NFC", strip_html(text) if is_html else text)
    emoji_kind, modifier = _from_emoji(raw, vocabulary)
    plain = normalise(raw)
    if trigger:
        plain = plain.replace(normalise(trigger), " ", 1)
    kind = emoji_kind or _longest_found(plain, vocabulary.phrases)
    tone = modifier or _longest_found(plain, vocabulary.tone_phrases)
    return Wish(kind, tone)


def _key(codes: str) -> str:
    """'1f9d1 200d 1f373' or '1F9D1-FE0F-200D-1F373' -> '1F9D1-200D-1F373'."""
    parts = codes.replace("-", " ").upper().split()
    return "-".join(p for p in parts if p != "FE0F")


def _longest_first(table: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(((p, k) for p, k in table.items() if p),
                        key=lambda pk: (-len(pk[0]), pk[0])))


def _longest_found(plain: str, phrases: tuple[tuple[str, str], ...]) -> str | None:
    """The value of the longest phrase that occurs in the text (phrases come longest first)."""
    return next((value for phrase, value in phrases if find_phrase(plain, phrase) is not None),
                None)


def _from_emoji(raw: str, vocabulary: Vocabulary) -> tuple[str | None, str | None]:
    """(kind of the first emoji sequence that is a kind's, tone of the first modifier)."""
    kind = tone = None
    for sequence, modifier in _sequences(raw):
        if tone is None and modifier is not None:
            tone = vocabulary.modifiers.get(modifier)
        if kind is None:
            kind = vocabulary.emoji.get(sequence)
    return kind, tone


def _sequences(raw: str) -> list[tuple[str, str | None]]:
    """Each run of characters joined by zero-width joiners, as a key without FE0F and tone
    modifiers, with the first modifier it carried: "🧑🏾‍🍳" -> ("1F9D1-200D-1F373", "1F3FE").
    A modifier on its own is a sequence with an empty key."""
    out: list[tuple[list[str], str | None]] = []
    joined = False
    for ch in raw:
        cp = ord(ch)
        if ch == _VS16:
            continue
        if cp in _MODIFIERS:
            if not out or joined:
                out.append(([], None))
            codes, modifier = out[-1]
            out[-1] = (codes, modifier or f"{cp:X}")
            continue
        if ch == _ZWJ:
            joined = bool(out)
            if joined:
                out[-1][0].append("200D")
            continue
        if joined:
            out[-1][0].append(f"{cp:X}")
        else:
            out.append(([f"{cp:X}"], None))
        joined = False
    return [("-".join(codes), modifier) for codes, modifier in out]

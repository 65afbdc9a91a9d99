"""What kind of person a mention asks for, and the names of kinds and skin tones in replies.

People may name a kind and a skin tone anywhere in a request, in words or in emoji:
"create a human image of a cook", "... 🧑‍🍳", "コックの人間の画像を作って", "... with dark skin",
"... 🏾", "... 🧑🏾‍🍳". The words and emoji come from the kinds table (model/data/kinds.json,
read by model.serve.load_kinds); the artist (bot.drawing) builds a `Vocabulary` from it once and
hands it to the pure parts.
This module loads no torch and no model: it takes any objects with the table's fields.

Matching follows the trigger rules: words NFKC-normalised, case-folded, whole words anywhere;
Japanese, written without spaces, counts as whole words where a morphological analyser puts word
boundaries (conversation.words), so "コックピット" (cockpit) is no cook. The first kind named, in
words or emoji, is the one asked for ("a cook, not a pilot" is a cook), and at one place the
longest phrase ("police officer", not "officer"); the plain "person" gives way to any other kind
named ("a person in a tuxedo"). Skin tones likewise, and an English tone phrase is read in all
its forms ("medium-dark skin", "medium dark skin tone", "medium-dark skinned"), so that no form
reads as the shorter tone inside it ("dark skinned"). Emoji are read before normalisation, which
drops the zero-width joiner that holds "🧑‍🍳" together: a whole joined sequence must be a kind's
(a family emoji is nobody's "person"), with its tone modifiers and FE0F set aside.

One form of an emoji sequence for the whole project: the kinds table's key, upper-case hex
joined by '-' without tone modifiers and FE0F ("1F9D1-200D-1F373"). model/data/kinds.py owns it
(`base_sequence`; the table is refused at load unless every emoji is in that form), so the
vocabulary takes the table's keys as they are, and this module only reads text into that form
(`_sequences`): it normalises no code strings of its own.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.conversation import words
from bot.conversation.commands import find_phrase, is_cjk, normalise, strip_html

_ZWJ = "\u200d"
_VS16 = "\ufe0f"
_MODIFIERS = range(0x1F3FB, 0x1F400)  # the five Fitzpatrick skin-tone modifiers
GENERIC = frozenset({"person"})  # a kind that any other kind named in the request refines
# How an English tone phrase ends, and every ending it is written with ("skin", "skinned", ...)
_SKIN = (" skin tone", "-skinned", " skinned", " skin")
_SKIN_FORMS = (" skin", " skin tone", " skin-tone", " skin colour", " skin color", " skinned",
               "-skinned")


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
            for codes in kind.emoji:  # already in key form: the table is checked at load
                emoji[codes] = kind.name
            names[kind.name] = {"en": kind.name, "ja": kind.ja[0] if kind.ja else kind.name}
            subgroups[kind.name] = kind.subgroup
        tone_phrases: dict[str, str] = {}
        modifiers, tone_names = {}, {}
        for tone in tones:
            for phrase in (*tone.en, *tone.ja):
                for form in _tone_forms(normalise(phrase)):
                    tone_phrases.setdefault(form, tone.name)
            modifiers[tone.modifier] = tone.name
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
    """The kind and tone a mention's text asks for: the first named, in words or emoji (an emoji
    kind counts with its own tone modifier). The trigger phrase that made it a request is not
    read for words: an operator's trigger "draw a person" asks for a picture, not for the kind
    "person"."""
    raw = unicodedata.normalize("NFC", strip_html(text) if is_html else text)
    cut = normalise(trigger) if trigger else ""

    def read(part: str) -> str:  # words as matched: normalised, without the trigger phrase
        plain = normalise(part)
        return plain.replace(cut, " ", 1) if cut else plain

    plain, sequences = read(raw), _sequences(raw)
    kinds = [(at, vocabulary.emoji[key]) for at, key, _ in sequences if key in vocabulary.emoji]
    tones = [(at, vocabulary.modifiers[m]) for at, _, m in sequences if m in vocabulary.modifiers]
    kind = (_first(raw, plain, read, kinds, vocabulary.phrases, lambda k: k not in GENERIC)
            or _first(raw, plain, read, kinds, vocabulary.phrases, lambda k: k in GENERIC))
    tone = _first(raw, plain, read, tones, vocabulary.tone_phrases, lambda t: True)
    return Wish(kind, tone)


def _first(raw: str, plain: str, read: Callable[[str], str], emoji: list[tuple[int, str]],
           phrases: tuple[tuple[str, str], ...], wanted: Callable[[str], bool]) -> str | None:
    """The first of the `wanted` values named, in words (in `plain`) or emoji (at their index
    in `raw`). Which came first is read from the words before the first emoji: normalisation
    changes lengths, so the two kinds of index cannot be compared."""
    phrases = tuple((p, v) for p, v in phrases if wanted(v))
    in_words = _first_word(plain, phrases)
    at, value = next(((i, v) for i, v in emoji if wanted(v)), (None, None))
    if at is None or in_words is None:
        return in_words or value
    return _first_word(read(raw[:at]), phrases) or value


def _first_word(plain: str, phrases: tuple[tuple[str, str], ...]) -> str | None:
    """The value of the phrase that occurs first as whole words; at one place the longest
    (phrases come longest first)."""
    best: tuple[int, str] | None = None
    for phrase, value in phrases:
        start = _start(plain, phrase, len(plain) if best is None else best[0])
        if start is not None and (best is None or start < best[0]):
            best = (start, value)
    return None if best is None else best[1]


def _start(plain: str, phrase: str, before: int) -> int | None:
    """Where the phrase first occurs as whole words, if it starts before `before`. Japanese
    has no spaces: each occurrence asks bot.conversation.words whether it is a word of its own."""
    if not is_cjk(phrase):
        found = find_phrase(plain, phrase)
        return found.start() if found is not None and found.start() < before else None
    at = plain.find(phrase, 0, before + len(phrase))
    while 0 <= at < before:
        if words.is_whole_word(plain, at, at + len(phrase)):
            return at
        at = plain.find(phrase, at + 1, before + len(phrase))
    return None


def _longest_first(table: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(((p, k) for p, k in table.items() if p),
                        key=lambda pk: (-len(pk[0]), pk[0])))


def _tone_forms(phrase: str) -> list[str]:
    """'medium-dark skin' -> the ways it is written: "medium-dark" or "medium dark", then
    "skin", "skin tone", "skinned", "-skinned", ... A form left out would be read as the
    shorter tone inside it ("medium-dark skinned" as "dark skinned")."""
    for ending in _SKIN:
        if phrase.endswith(ending):
            shade = phrase.removesuffix(ending)
            shades = dict.fromkeys((shade, shade.replace("-", " "), shade.replace(" ", "-")))
            return [phrase] + [s + form for s in shades for form in _SKIN_FORMS]
    return [phrase]


def _sequences(raw: str) -> list[tuple[int, str, str | None]]:
    """Each run of characters joined by zero-width joiners: where it starts, its key without
    FE0F and tone modifiers, and the first modifier it carried: "🧑🏾‍🍳" at 0 ->
    (0, "1F9D1-200D-1F373", "1F3FE"). A modifier on its own is a sequence with an empty key."""
    out: list[tuple[int, list[str], str | None]] = []
    joined = False
    for at, ch in enumerate(raw):
        cp = ord(ch)
        if ch == _VS16:
            continue
        if cp in _MODIFIERS:
            if not out or joined:
                out.append((at, [], None))
            start, codes, modifier = out[-1]
            out[-1] = (start, codes, modifier or f"{cp:X}")
            continue
        if ch == _ZWJ:
            joined = bool(out)
            if joined:
                out[-1][1].append("200D")
            continue
        if joined:
            out[-1][1].append(f"{cp:X}")
        else:
            out.append((at, [f"{cp:X}"], None))
        joined = False
    return [(at, "-".join(codes), modifier) for at, codes, modifier in out]

"""One language's sentences as a table of format strings (`Sentences`), which names each place the
tables fill alike (english.py, japanese.py; texts.py picks one by language).
"""

from __future__ import annotations

import string
from dataclasses import dataclass


@dataclass(frozen=True)
class Sentences:
    """One language's sentences. {names} are filled in by the functions below."""

    more: str  # {again} {like_this} {morph}: what works as a reply to a picture
    picture: str  # {what} {origin} {more}
    from_seed: str  # {seed}
    from_random: str
    variations: str  # {more} {example}
    morph: str  # {to} {more}
    to_seed: str  # {seed}
    to_someone: str
    limit_one: str  # {limit} {minutes}
    limit_many: str  # {asked} {limit} {minutes}
    help: str  # {again} {like_this} {morph} {delete} {like} {trigger} {example}
    help_example: str  # {trigger}: a request that names a kind and a skin tone
    unknown_seed: str  # {seed} {some} {ranges}
    no_seeds: str  # {seed}
    gone: str  # {trigger}
    pick_some: str  # {count} {example}
    pick_one: str  # {phrase}
    alt_seed: str  # {what} {seed} {sigma}
    alt_random: str  # {what}
    alt_variation: str  # {i} {n} {what} {sigma}
    alt_morph: str  # {start} {end}
    morph_start: str
    morph_start_seed: str  # {seed}
    morph_end_seed: str  # {seed}
    morph_end_random: str
    daily: str
    daily_seed: str  # {what} {seed}
    daily_favourite: str  # {what} {counts} {link}
    daily_what: str  # {what}: what a daily post of a labelled seed shows
    favourites_one: str
    favourites: str  # {n}
    boosts_one: str
    boosts: str  # {n}
    and_: str  # between the favourites and the boosts
    comma: str  # between seed numbers
    space: str  # between two sentences
    a_human: str  # what a picture is, when its seed has no label
    a_person: str  # what an alt text describes, when its seed has no label
    with_tone: str  # {kind} {tone}
    in_style: str  # {what} {style}: a picture of a generator that draws several styles
    no_kind: str  # {kind} {some}: a kind the bot has no seed for, and kinds it can draw
    no_tone: str  # {kind} {tone}: a kind it has, but not in that tone
    or_: str  # before the last of the kinds it can draw


def places(sentence: str) -> set[str]:
    """The {names} a sentence fills in."""
    return {name for _, name, _, _ in string.Formatter().parse(sentence) if name}

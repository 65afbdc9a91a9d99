"""Seed labels on the explorer's page: making and comparing them, a sent picture's label from its
classes, the filter, the counts per kind and tone, and the kinds table the kind field offers.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from model.data.kinds import TONES, Label, load_kinds
from model.serve.latents import Latent
from model.serve.seeds import Seed

LABEL_MAX = 60  # characters of a kind or subgroup: the longest emoji person name is ~40

NO_TONE = "none"  # the page's and the API's word for tone "" (the default yellow)

log = logging.getLogger("model.explore")


def make_label(kind: str = "", subgroup: str = "", tone: str = "",
               source: str = "explorer") -> Label | None:
    """The label the curator typed, tidied (white space runs to one space, so one line);
    None when kind, subgroup and tone are all empty: clearing the fields removes the label.

    ValueError with a one-line message for a tone not in TONES ("" or "none": the default
    yellow) or a kind or subgroup over LABEL_MAX characters, before anything is written."""
    kind, subgroup = (" ".join(str(v).split()) for v in (kind, subgroup))
    tone = str(tone).strip()
    tone = "" if tone == NO_TONE else tone
    if tone and tone not in TONES:
        shown = tone if len(tone) <= 30 else tone[:30] + "..."
        raise ValueError(f"tone {shown!r} is not one of: {NO_TONE}, {', '.join(TONES)}")
    for name, value in (("kind", kind), ("subgroup", subgroup)):
        if len(value) > LABEL_MAX:
            raise ValueError(f"the {name} is {len(value)} characters long; give at most "
                             f"{LABEL_MAX} (a short name such as \"cook\")")
    if not (kind or subgroup or tone):
        return None
    return Label(kind, subgroup, tone, source)


def drawn_label(drawn: Latent, picture: dict) -> dict | None:
    """The label of a sent picture, from the classes it was drawn in (Latent.drawn: every
    label set of a conditional generator named), as the page's label fields show it and
    "save as seed" keeps it; None for an unconditional generator (no classes)."""
    c = drawn.classes
    if not c:
        return None
    kind = c.get("kind", "")
    known = load_kinds().get(kind) if kind else None
    subgroup = c.get("subgroup") or (known.subgroup if known else "")
    return Label(kind, subgroup, c.get("tone", ""), f"post {picture.get('post_id', '')}",
                 c.get("style", "")).to_dict()


def same_label(a: Label | None, b: Label | None) -> bool:
    """The same kind, subgroup and tone, wherever each came from."""
    def key(label: Label | None) -> tuple[str, ...] | None:
        return None if label is None else (label.kind, label.subgroup, label.tone)
    return key(a) == key(b)


@dataclass(frozen=True)
class LabelFilter:
    """Which seeds the list shows: all the conditions given hold (None: any).

    kind "" is a label with no kind (only a tone, say); tone "" is the default yellow. A seed
    without a label matches only when no kind or tone is asked for."""

    kind: str | None = None
    tone: str | None = None
    unlabelled: bool = False

    @classmethod
    def parse(cls, kind: str | None, tone: str | None, unlabelled: bool) -> LabelFilter:
        """From the query: tone "none" is the default yellow, "" or absent is any tone;
        ValueError for a tone that no seed can have."""
        tone = None if not tone else "" if tone == NO_TONE else tone
        if tone and tone not in TONES:
            raise ValueError(f"tone {tone[:30]!r} is not one of: {NO_TONE}, {', '.join(TONES)}")
        return cls(kind, tone, unlabelled)

    def matches(self, seed: Seed) -> bool:
        label = seed.label
        if self.unlabelled and label is not None:
            return False
        if self.kind is None and self.tone is None:
            return True
        return (label is not None and self.kind in (None, label.kind)
                and self.tone in (None, label.tone))


def label_counts(seeds: list[Seed]) -> dict:
    """How many seeds have each kind and each tone (tone "" counted as "none"), and how many
    have no label: the filter's options show them."""
    labels = [s.label for s in seeds if s.label is not None]
    tones = Counter(label.tone or NO_TONE for label in labels)
    return {"all": len(seeds), "unlabelled": len(seeds) - len(labels),
            "kinds": dict(sorted(Counter(label.kind for label in labels).items())),
            "tones": {t: tones[t] for t in (NO_TONE, *TONES) if tones[t]}}


def emoji_text(emoji: object) -> str:
    """A kind's emoji as the character(s) to show: model/data/kinds.py gives the code point
    sequences that draw it ("1F469-200D-1F373", first one shown); "" for anything else."""
    first = emoji[0] if isinstance(emoji, tuple | list) and emoji else emoji
    if not isinstance(first, str):
        return ""
    try:
        return "".join(chr(int(part, 16)) for part in first.split("-"))
    except ValueError:  # already the character itself
        return first


def known_kinds() -> list[dict]:
    """The emoji person kinds of model/data/kinds.py (name, subgroup, emoji), for the kind field's
    suggestions; [] while that module is not there, or (with a warning) when it fails: the
    field is free text either way, so the explorer never stops over it."""
    try:
        from model.data.kinds import load_kinds  # not at the top: the module may not exist yet
    except ModuleNotFoundError as exc:
        if exc.name != "model.data.kinds":
            log.warning("kind names unavailable (model.data.kinds: %s); the kind field is "
                        "free text", exc)
        return []
    try:
        kinds = load_kinds().kinds
        return [{"name": str(k.name), "subgroup": str(getattr(k, "subgroup", "") or ""),
                 "emoji": emoji_text(getattr(k, "emoji", ""))} for k in kinds]
    except Exception as exc:  # suggestions only: whatever fails, the field stays free text
        log.warning("kind names unavailable (%s); the kind field is free text", exc)
        return []

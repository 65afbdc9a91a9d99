"""What was drawn, as the texts describe it: a plain value, no pixels and no torch.

bot.drawing makes the pictures and hands this description with them (Drawing.what); the
sentences of bot.conversation.texts read only this, so the texts never import the drawing code
(which loads torch) and the drawing code may use the texts for its alt texts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Drawn:
    seed_id: int | None  # the good seed it is near (None: the plain prior)
    morph_to: int | None = None  # a morph: the good seed it travels to
    kind: str = ""  # what its seed's label says it shows ("cook"; "": not labelled)
    tone: str = ""  # its seed's skin tone ("": the default yellow, or not labelled)
    closest: tuple[str, ...] = ()  # a kind was asked that no seed has: kinds it can draw
    classes: Mapping[str, str] = field(default_factory=dict)  # the classes it was drawn in
    style: str = ""  # the emoji style it is drawn in ("twemoji"; "": a one-style generator)

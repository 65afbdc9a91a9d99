"""The values the store keeps and hands back (a mention's record, a picture sent, a post on its
way), and their rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

from bot.platforms.base import Mention, Uploaded
from bot.state.schema import Status, Wait


@dataclass(frozen=True)
class Record:
    mention: Mention
    status: Status
    attempts: int
    next_attempt_at: float
    reply_id: str | None
    reason: str | None
    new: bool = False  # recorded by this call (first time seen)
    waiting_for: Wait | None = None  # pending: what its due time waits for


@dataclass(frozen=True)
class Picture:
    """One picture the bot sent: enough to draw more like it from a reply to it."""

    post_id: str  # the platform's id of the post that carries it
    kind: str  # picture (a reply), variation (one of four), morph (a GIF), daily
    z: list[float]  # its latent (a morph: the latent it starts from)
    seed_id: int | None  # the good seed it was drawn near (None: the plain prior)
    sigma: float  # the noise it was drawn with
    idx: int = 0  # which of the post's pictures (variations: 0-3)
    mention_id: str | None = None  # the mention it answered (None: the daily post)
    for_author_id: str | None = None  # who asked for it: the one person who may delete it
    parent_post_id: str | None = None  # the picture it was made from (again, variations...)
    morph_to: int | None = None  # a morph: the good seed it travels to
    url: str = ""
    created_at: float = 0.0
    deleted_at: float | None = None
    favourites: int = 0
    boosts: int = 0
    # The classes it was drawn in, with z (label set -> class: {"kind": "cook", ...}; {}:
    # an unconditional generator; None: sent before classes were kept).
    classes: dict[str, str] | None = None


@dataclass(frozen=True)
class Outgoing:
    """A post on its way to answer one mention: what it says and carries. Kept from the
    moment its media is uploaded (a reply) or it is about to be sent (a note) until the mention
    is settled, so a retry, a restart or the look after a crash deals with this very post."""

    kind: str  # "reply", or the kind of note ("limit", "help", "unknown seed", ...)
    reason: str  # what the mention is settled with once the post is out
    text: str
    pictures: tuple[Picture, ...] = ()  # a reply's, with their latents (post_id not known yet)
    uploaded: Uploaded | None = None  # a reply's media on the platform
    uploaded_at: float = 0.0

    @property
    def is_note(self) -> bool:
        return self.kind != "reply"


def mention_json(m: Mention) -> str:
    d = asdict(m)
    d["created_at"] = m.created_at.isoformat()
    return json.dumps(d, ensure_ascii=False)


def mention_from_json(text: str) -> Mention:
    d = json.loads(text)
    d["created_at"] = datetime.fromisoformat(d["created_at"])
    return Mention(**d)  # fields added later (in_reply_to_id) take their defaults





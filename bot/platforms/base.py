"""The Platform protocol and the data it speaks: mentions, media, reactions, posts.

A platform knows HTTP and nothing of images: it is given PNG or GIF bytes and alt text. What
can go wrong is said with the four kinds in bot.platforms.errors.

A platform never sleeps. A reply is three steps the service takes one at a time: upload the
media, ask whether the platform has processed it (as often as the platform says, from the
service's loop), then post. Between the steps the service keeps what was uploaded in its
state file, so a restart goes on where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, Protocol

VISIBILITY_ORDER = ("public", "unlisted", "private", "direct")


@dataclass(frozen=True)
class Mention:
    id: str
    author: str  # handle, e.g. alice@example.social
    author_id: str
    author_is_bot: bool
    author_bio: str  # plain text or HTML, as the platform sends it
    text: str
    is_html: bool
    visibility: str  # public, unlisted, private or direct (X: public)
    created_at: datetime
    cursor: str = ""  # the platform's paging position (Mastodon: the notification id)
    in_reply_to_id: str = ""  # the post this mention answers ("": none), e.g. a bot picture
    # whose post it answers ("": none or unknown): the bot's own, when it is the bot's id
    in_reply_to_account_id: str = ""

    @property
    def position(self) -> str:
        return self.cursor or self.id


@dataclass(frozen=True)
class Reaction:
    """Somebody favourited or boosted one of the bot's posts (Mastodon notifications)."""

    id: str  # the platform's notification id: counted once, however often it is read
    kind: str  # favourite or reblog
    post_id: str  # the bot's post
    account_id: str  # who reacted
    cursor: str = ""  # paging position, as Mention.cursor


@dataclass(frozen=True)
class Media:
    """One attachment: a PNG picture or an animated GIF, with its alt text."""

    data: bytes
    mime: str  # image/png or image/gif
    alt_text: str

    @property
    def is_gif(self) -> bool:
        return self.mime == "image/gif"


@dataclass(frozen=True)
class Uploaded:
    """Media on the platform, ready to attach or still being processed there (a GIF turned
    into a video). How long to wait is the platform's word (`check_in`); the waiting is the
    service's, from its loop."""

    ids: tuple[str, ...]
    waiting: tuple[str, ...] = ()  # those still being processed
    check_in: float = 0.0  # seconds until the platform should be asked again
    checks: int = 0  # how often it was asked so far

    @property
    def ready(self) -> bool:
        return not self.waiting

    def checked(self, waiting: list[str], check_in: float) -> Uploaded:
        """This upload after one more look at the ones that were waiting."""
        return replace(self, waiting=tuple(waiting), check_in=check_in if waiting else 0.0,
                       checks=self.checks + 1)


@dataclass(frozen=True)
class Posted:
    id: str
    url: str = ""


@dataclass(frozen=True)
class Me:
    id: str
    handle: str


@dataclass(frozen=True)
class TextLimit:
    """How long a post's text may be, as the platform counts it: at most `chars`, each
    character outside X's narrow ranges (Latin and the like) counting `wide` (X counts CJK
    and emoji twice; Mastodon counts every character once). bot.conversation.texts.weighted_len
    counts."""

    chars: int
    wide: int = 1


Budget = Literal["media", "posts"]


class Platform(Protocol):
    name: str
    # (count, seconds): at most this many counted things per window, paced by the service
    media_limit: tuple[int, float]
    # what media_limit counts: "media" (Mastodon: each upload, so four variations are four
    # and a note is none) or "posts" (X: each POST /2/tweets, notes included, whatever it
    # carries)
    budget_counts: Budget
    # True when post() with the same key cannot publish twice (Mastodon's Idempotency-Key)
    idempotent_posts: bool
    # True: find_reply before every reply, not only after an interrupted attempt
    look_before_reply: bool
    # the longest text a post may have (Mastodon: 500 by default; X: 280, CJK counted twice)
    text_limit: TextLimit

    def start(self) -> Me: ...

    def stop(self) -> None: ...

    def fetch_mentions(self, since_id: str | None, not_before: datetime | None) -> list[Mention]:
        """Mentions newer than since_id, oldest first; with no cursor, those not older than
        not_before (the first start's backlog window)."""
        ...

    def take_reactions(self) -> list[Reaction]:
        """The favourites and boosts of the bot's posts that the last fetch_mentions read
        (Mastodon; none elsewhere). Handed over once; the state file dedupes by id."""
        ...

    def upload(self, media: list[Media]) -> Uploaded:
        """Upload one to four pictures, or one GIF, with their alt texts (ValueError for
        anything else, before any upload). Never waits for processing."""
        ...

    def processed(self, uploaded: Uploaded) -> Uploaded:
        """Ask once about the media still being processed. Rejected: it never will be."""
        ...

    def reply(self, mention: Mention, text: str, uploaded: Uploaded) -> Posted:
        """A reply carrying media that is uploaded and processed."""
        ...

    def post(self, text: str, media: list[Media], key: str = "") -> Posted:
        """A post of the bot's own; key makes a retry of the same post idempotent. Media the
        platform has not processed at once is Transient: the post is tried again later. An
        error raised before the post itself was asked for (the upload) has may_have_posted
        False."""
        ...

    def delete(self, post_id: str) -> None:
        """Delete one of the bot's own posts; one that is gone already is no error."""
        ...

    def find_reply(self, mention: Mention) -> Posted | None:
        """The bot's own earlier reply to this mention, if one was posted (crash recovery)."""
        ...

    def send_note(self, mention: Mention, text: str) -> Posted:
        """A text-only reply (the polite note when a user hits the limit)."""
        ...

    def settle(self, mention: Mention) -> None:
        """Called once a mention is settled without a reply (the local inbox tidies up)."""
        ...

    @property
    def finished(self) -> bool:
        """True when no more mentions can arrive (the local platform's stdin ended)."""
        ...


def more_private(a: str, b: str) -> str:
    """The more private of two visibilities."""
    return max(a, b, key=VISIBILITY_ORDER.index)


def id_key(mention_id: str) -> tuple[int, str]:
    """Sort key for platform ids: numeric ids by value, others as text."""
    return (int(mention_id), "") if mention_id.isdigit() else (-1, mention_id)

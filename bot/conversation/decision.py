"""What to do with one mention, decided without any I/O.

`decide` is a pure function: given the mention, the facts the executor looked up (what the
state file says about its author and the picture it answers, the platform's budget and text
length, the time) and the settings, it answers ignore, refuse, note, reply, delete or
wait-until-T. The media budget and the daily post's next time are pure functions too. The
executor (bot.service) does what the decision says. It loads no torch and no model
(tests/test_boundaries.py).

Notes (a limit reached, an unknown seed, a picture gone, a number the post does not have) are
one rule: at most one per person per hour, whatever their kind, so that no account can spend
the bot's posts on notes. The help is asked for and has its own rule: once a day per person.
Every answer is in the language of the request.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.conversation import commands
from bot.conversation.kinds import EMPTY, Vocabulary, wish
from bot.conversation.texts import gone_text, help_text, limit_text, pick_text, unknown_seed_text
from bot.platforms.base import Me, Mention, TextLimit
from bot.settings import Settings
from bot.state.records import Picture
from bot.state.schema import Wait

_NOBOT = re.compile(r"#nobots?\b", re.IGNORECASE)
DAILY_GRACE = 3600  # a daily post missed by less than this (restart, downtime) still goes out
HOUR = 3600.0
DAY = 86400.0


def has_nobot(bio: str) -> bool:
    return bool(_NOBOT.search(commands.normalise(commands.strip_html(bio))))


@dataclass(frozen=True)
class Quota:
    """What the state store says about one author's last hour."""

    replies: int  # pictures sent to this author within the hour
    oldest_reply: float | None  # when the oldest of them was sent
    last_note: float | None  # when this author last had a note, of any kind but the help


@dataclass(frozen=True)
class Facts:
    """What the executor looked up about one mention: everything `decide` needs besides the
    mention and the settings."""

    me: Me | None
    now: float
    not_before: datetime | None
    quota: Quota
    uploads: list[float]  # the platform's counted posts within its window, oldest first
    media_limit: tuple[int, float]  # (posts, seconds)
    blocked_until: float  # a rate limit's reset: no post before it
    notes_use_budget: bool  # a text-only note counts against media_limit (X)
    text_limit: TextLimit  # the longest text the platform takes
    parent: list[Picture] = field(default_factory=list)  # pictures of the post replied to
    seed_ids: frozenset[int] = frozenset()  # the good seeds there are
    last_help: float | None = None  # when this author last had the help
    budget_counts: str = "media"  # what media_limit counts: media (Mastodon) or posts (X)

    def free_at(self, need: int = 1) -> float:
        """need: the pictures a reply carries; on X one post, however many it carries."""
        need = need if self.budget_counts == "media" else 1
        return budget_free_at(self.uploads, self.media_limit, self.now, self.blocked_until,
                              need)


NoteKind = Literal["limit", "help", "unknown seed", "gone", "pick"]


@dataclass(frozen=True)
class Decision:
    action: Literal["ignore", "refuse", "note", "reply", "wait", "delete"]
    reason: str = ""
    until: float = 0.0  # wait: the time at which to decide again
    wait: Wait | None = None  # wait: what for (reason says it in words)
    request: commands.Request | None = None  # reply, delete: what was asked
    target: Picture | None = None  # the picture a command is about (None: a new one)
    text: str = ""  # note: what to say
    note: NoteKind = "limit"  # which kind of note


def reason_to_ignore(m: Mention, me: Me | None, not_before: datetime | None) -> str | None:
    if me is not None and (m.author_id == me.id or m.author.casefold() == me.handle.casefold()):
        return "my own post"
    if m.author_is_bot:
        return "author is a bot"
    if has_nobot(m.author_bio):
        return "author's bio has #nobot"
    if not_before is not None and m.created_at < not_before:
        return "older than the backlog window"
    return None


def decide(m: Mention, facts: Facts, settings: Settings,
           vocabulary: Vocabulary = EMPTY) -> Decision:
    """What to do with one pending mention now. Pure: no I/O, no clock, no randomness.

    A reply to one of the bot's posts may carry a command (again, more like this, morph,
    delete, help); "like #12" and "help" work anywhere; otherwise a trigger phrase asks for a
    picture, of the kind and skin tone the text names (vocabulary: bot.conversation.kinds). A
    command about a picture the bot no longer has gets the "gone" note.
    """
    reason = reason_to_ignore(m, facts.me, facts.not_before)
    if reason is not None:
        return Decision("ignore", reason)
    parent = [p for p in facts.parent if p.deleted_at is None]
    # its pictures are known, or it is the bot's post all the same (a picture deleted, or
    # from before the state file was reset): the reply commands count
    to_me = bool(facts.parent) or (facts.me is not None and bool(m.in_reply_to_id)
                                   and m.in_reply_to_account_id == facts.me.id)
    request = commands.parse(m.text, settings.triggers, m.is_html, commands=settings.commands,
                             like=settings.like_phrases, reply_to_picture=bool(parent) or to_me)
    if request is None:
        return Decision("ignore", "no trigger phrase")
    if request.command == "picture":  # "again" and the others keep their picture's kind
        wanted = wish(m.text, vocabulary, m.is_html, request.trigger)
        request = replace(request, kind=wanted.kind, tone=wanted.tone)
    if request.command == "help":
        if facts.last_help is not None and facts.last_help > facts.now - DAY:
            return Decision("refuse", "had the help within a day")
        return _answer(facts, "help", help_text(m, settings, request.lang, facts.text_limit),
                       "help")
    target = None
    if parent:
        pick = request.pick if request.pick is not None else 1
        if not 1 <= pick <= len(parent):
            return _note(facts, f"no picture {pick} of {len(parent)}", pick_text(
                m, request.trigger, len(parent), request.lang, facts.text_limit), "pick")
        target = parent[pick - 1]
    elif request.command in commands.DRAWING_COMMANDS:
        return _note(facts, "the picture replied to is gone",
                     gone_text(m, settings, request.lang, facts.text_limit), "gone")
    if request.command == "delete":
        if target is None:  # what was asked is done already (or cannot be checked): silence
            return Decision("ignore", "delete of a picture I no longer have")
        if target.for_author_id != m.author_id:
            return Decision("ignore", "delete asked by someone the picture was not made for")
        return Decision("delete", f"deleted {target.post_id} on request", request=request,
                        target=target)
    return _picture(m, facts, settings, request, target)


def _picture(m: Mention, facts: Facts, settings: Settings, request: commands.Request,
             target: Picture | None) -> Decision:
    """A request for pictures: a seed that exists, the person's hourly limit, the budget."""
    now = facts.now
    if request.command == "like" and request.seed_id not in facts.seed_ids:
        assert request.seed_id is not None
        return _note(facts, f"no seed #{request.seed_id}", unknown_seed_text(
            m, request.seed_id, facts.seed_ids, request.lang, facts.text_limit), "unknown seed")
    asked = request.pictures
    limit, quota = settings.user_limit_per_hour, facts.quota
    if limit > 0 and quota.replies + asked > limit:
        oldest = quota.oldest_reply if quota.oldest_reply is not None else now - HOUR
        minutes = max(1, round((oldest + HOUR - now) / 60))
        return _note(facts, f"over {limit} per hour", limit_text(
            m, request.lang, limit, minutes, asked, facts.text_limit), "limit")
    free_at = facts.free_at(asked)
    if free_at > now:
        return Decision("wait", "waiting for the media budget", until=free_at, wait=Wait.BUDGET)
    return Decision("reply", request=request, target=target)


def _note(facts: Facts, reason: str, text: str, kind: NoteKind) -> Decision:
    """A note, under the one rule for notes: one per person per hour, then silence."""
    last = facts.quota.last_note
    if last is not None and last > facts.now - HOUR:
        return Decision("refuse", f"{reason}; had a note within the hour")
    return _answer(facts, reason, text, kind)


def _answer(facts: Facts, reason: str, text: str, kind: NoteKind) -> Decision:
    """A text-only answer, or a wait when notes count against the post budget (X)."""
    if facts.notes_use_budget and facts.free_at() > facts.now:
        return Decision("wait", f"the note waits for the post budget ({reason})",
                        until=facts.free_at(), wait=Wait.BUDGET)
    return Decision("note", reason, text=text, note=kind)


def budget_free_at(uploads: list[float], limit: tuple[int, float], now: float,
                   blocked_until: float = 0.0, need: int = 1) -> float:
    """When `need` more posts fit (0.0: now): at most `count` in any `window` seconds
    (uploads: times, oldest first, those within the window), and never before a rate limit's
    reset. Four variations need four free places at once."""
    count, window = limit
    over = len(uploads) + min(need, count) - count  # how many must leave the window first
    free = 0.0 if over <= 0 else uploads[over - 1] + window
    return max(free, blocked_until)


def daily_due_at(now: float, settings: Settings, posted: Callable[[str], bool],
                 not_before: float = 0.0) -> tuple[float, str] | None:
    """When the next daily post is due (<= now: now) and the local day it is for, or None
    when none is due within the next three days.

    The planned times come from APScheduler's cron trigger (time zones, DST). A time that a
    restart or an outage missed by less than the grace still counts (coalesced: one post),
    and a day whose post was made (or is in doubt) is skipped. The loop's own timer runs it:
    one mechanism, never two posts on one day."""
    from apscheduler.triggers.cron import CronTrigger

    if not settings.daily_post_enabled:
        return None
    zone = ZoneInfo(settings.timezone)
    t = settings.daily_time
    trigger = CronTrigger(hour=t.hour, minute=t.minute, timezone=zone)
    fire = trigger.get_next_fire_time(None, datetime.fromtimestamp(now - DAILY_GRACE, zone))
    for _ in range(3):
        if fire is None:
            return None
        if not posted(fire.date().isoformat()):
            due = max(fire.timestamp(), not_before)
            if due - fire.timestamp() <= DAILY_GRACE:
                return due, fire.date().isoformat()
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return None

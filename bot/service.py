"""The poll loop: mentions in, pictures out, nothing lost, nothing twice.

Two halves. What to do with a mention is decided by `bot.decision.decide`, a pure function of
the mention and the facts looked up here (its author's quota, the platform's budget, the
picture it answers if it is one of the bot's): ignore, refuse, note, reply, delete or wait. A
reply to one of the bot's pictures may ask for more of it (again, more like this, morph),
delete it or ask for help; "like #12" works anywhere. Every picture sent is remembered with its
latent, so the conversation can go on from any of them.

`Service` is the executor: it polls, records each mention before doing anything, asks
`decide`, and does the I/O. Handling a mention never waits on purpose (it blocks only on I/O:
an HTTP call up to its timeout, the state file's lock up to 30 s while another process writes
it, SQLite's busy handler sleeping meanwhile): a mention that must wait (for the post budget, a
rate-limit reset, a retry after a 5xx, media the platform is still processing) stays pending in
the state file with its due time, and the loop goes on polling, serving health, reloading and
posting. The loop waits on purpose in one place, until the earliest of the next poll, the next
due mention and the daily post. The cursor moves past
every mention read: the state file, not the platform, holds the ones still waiting.

Every post that answers a mention, a reply or a note, takes one path, exactly once: a reply's
media is uploaded and kept in the state file with the text and latents (`Outgoing`); the
platform is asked about its processing as often as it says, from the loop; the mention is
marked `replying` with what is about to be posted; then it is posted and settled, its cost
against the platform's budget counted in the same transaction. A mention found `replying`
(a crash, a lost answer) is looked for on the platform before anything is sent again.

Errors are sorted by kind: a 429 is waited out until its reset; a transient failure (5xx,
timeouts, network errors, media still processing, a full disk) backs off exponentially with
jitter, capped at BACKOFF_CAP, for as long as the mention is within its backlog window
(BOT_BACKLOG_HOURS, at least RETRY_WINDOW), however many attempts that takes: an instance is
down for minutes during an upgrade; a 401 (or a token without the scope to post) stops the bot
with a message; only a permanent refusal for one mention (a 4xx that will not change, media
the server rejects, a deleted status) settles it as failed. Every failed request while
answering a mention (a lookup, an upload, a post) counts as one attempt of it; an exception
nobody expected does too, and gives up after BOT_MAX_ATTEMPTS (a bug does not go away by
waiting). While the platform fails, one pending mention at a time probes it, after the
backoff, the others waiting behind it: at most 8 tries in a 3-minute outage and 24 in a
2-hour one (each a request or two), and as many polls if the polls fail too (counted in
tests/test_outages.py); `/healthz` and bot_platform_failing say the platform is failing.
SIGTERM or SIGINT lets the request in flight finish, then the loop exits; a reply whose media
is still being processed stays pending in the state file and goes on after a restart.
"""

from __future__ import annotations

import logging
import math
import random
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.artist import Artist, Drawing
from bot.config import Settings
from bot.decision import (
    HOUR,
    Decision,
    Facts,
    Quota,
    budget_free_at,
    daily_due_at,
    decide,
)
from bot.observe import Metrics
from bot.platforms.base import Me, Mention, Platform, Posted, Reaction, Uploaded, id_key
from bot.platforms.errors import (
    AuthFailed,
    DiskFull,
    PlatformError,
    RateLimited,
    Rejected,
    Transient,
    is_disk_full,
)
from bot.state import Outgoing, Picture, Record, State, Wait
from bot.texts import daily_text, reply_text

log = logging.getLogger("bot.service")

BACKOFF_BASE = 2.0
# The longest wait between two tries while a platform fails: after the first few tries an
# outage costs one request per 7.5 to 15 minutes (jitter), and a mention waits at most this
# long after the platform is back.
BACKOFF_CAP = 15 * 60.0
RETRY_WINDOW = 3600.0  # a mention is retried for BOT_BACKLOG_HOURS, but never less than this
LATENCY_WINDOW = 1000  # the reply latencies kept in Stats (the newest): memory stays flat
MAX_RATE_WAIT = 20 * 60.0  # a reset further away than this is re-checked after this long
DAILY_RETRY = 600.0  # a daily post that failed is tried again this much later
# Media the platform has not processed this long after its upload is given up (a failed
# attempt) and uploaded afresh at the next one. An upload kept for a post that could not go
# out (a budget, a rate limit, retries) is used up to UPLOAD_KEEP after it was made: Mastodon
# and X drop unattached media after about a day.
PROCESSING_LIMIT = 15 * 60.0
UPLOAD_KEEP = 6 * 3600.0


class Fatal(Exception):
    """Stop the bot: retrying cannot help (credentials refused, a scope missing)."""


def fatal(platform: str, exc: AuthFailed) -> Fatal:
    """The one way a refusal of the account becomes a stop: the same words wherever it came
    from (start, a fetch, a post, the daily post)."""
    return Fatal(f"{platform} refused the credentials ({exc}); check the tokens with "
                 "python -m bot check")


class Unavailable(Exception):
    """The platform could not be reached at start (network, 5xx, rate limit)."""


class Unforeseen(Transient):
    """An error nobody foresaw while answering a mention (a bug, an answer of a shape nobody
    expected): retried like a transient failure, but given up after BOT_MAX_ATTEMPTS."""


@dataclass(frozen=True)
class DailyFailure:
    """Why a daily post was not made: one line for the log and python -m bot post, and the
    error (its kind decides the exit status)."""

    message: str
    error: Exception


def backoff(attempt: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter: up to 2, 4, 8 ... s, capped at 15 min."""
    return rng.uniform(0.5, 1.0) * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempt - 1))


def round_robin(records: list[Record]) -> list[Record]:
    """Oldest first within each author, authors taking turns: a burst from one account does
    not make everyone else wait behind it."""
    by_author: dict[str, list[Record]] = {}
    for r in sorted(records, key=lambda r: id_key(r.mention.position)):
        by_author.setdefault(r.mention.author_id, []).append(r)
    queues = list(by_author.values())  # in order of each author's oldest pending mention
    out: list[Record] = []
    while queues:
        out += [q.pop(0) for q in queues]
        queues = [q for q in queues if q]
    return out


# ---------------------------------------------------------------- the executor


@dataclass
class Clock:
    """Wall time and an interruptible wait, injectable for tests."""

    now: Callable[[], float] = time.time
    wake: threading.Event = field(default_factory=threading.Event)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, returning early (True) when woken by a signal or input."""
        woken = self.wake.wait(seconds) if seconds > 0 else self.wake.is_set()
        if woken:  # only a wake-up seen is used up: one that comes after the timeout (and
            self.wake.clear()  # before this line) wakes the next wait instead of being lost
        return woken


@dataclass
class Stats:
    fetched: int = 0
    replied: int = 0
    ignored: int = 0
    refused: int = 0
    failed: int = 0
    retried: int = 0
    rate_waits: int = 0
    last_poll: float = 0.0
    # seconds, fetch to posted: the newest LATENCY_WINDOW (a bot runs for months)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))


class Service:
    def __init__(self, settings: Settings, platform: Platform, artist: Artist, state: State,
                 clock: Clock | None = None, rng: random.Random | None = None,
                 metrics: Metrics | None = None,
                 load_artist: Callable[[], Artist] | None = None):
        self.settings = settings
        self.platform = platform
        self.artist = artist
        self.state = state
        self.clock = clock or Clock()
        self.rng = rng or random.Random()
        self.stats = Stats()
        self.stopping = False
        self.me: Me | None = None
        self._problem: str | None = None  # the start or the state file (see `problem`)
        self.metrics = metrics or Metrics()
        self.load_artist = load_artist  # SIGHUP: weights and seeds read again
        self._reload_asked = False
        self._fetched_at: dict[str, float] = {}
        self._fetch_fail_count = 0
        self._state_failures = 0
        self._next_poll_at = 0.0  # the next regular poll (0: now)
        self._fetch_blocked_until = 0.0  # a 429's reset or a backoff: no fetch before it
        self._posts_blocked_until = 0.0  # a 429 on posting: no upload before its reset
        self._daily_not_before = 0.0  # a failed daily post is tried again from here
        # The platform failing, by what failed ("fetch", "answer"): since when, and why.
        # Answers: consecutive transient failures of any mention, and no mention is tried
        # before the last one's backoff is over (one probe at a time during an outage).
        self._failing: dict[str, tuple[float, str]] = {}
        self._answer_failures = 0
        self._answers_blocked_until = 0.0

    @property
    def name(self) -> str:
        return self.platform.name

    @property
    def problem(self) -> str | None:
        """Why the bot cannot work right now, for /healthz: the server unreachable at start,
        the state file unwritable, or the platform failing (None: all is well)."""
        failing = self.failing
        return self._problem or (failing and f"{failing}; retrying with backoff")

    @problem.setter
    def problem(self, value: str | None) -> None:
        self._problem = value

    @property
    def failing(self) -> str | None:
        """What of the platform fails now, since when, and what it said (None: nothing)."""
        if not self._failing:
            return None
        since = min(at for at, _ in self._failing.values())
        why = "; ".join(f"{what}: {text}" for what, (_, text) in sorted(self._failing.items()))
        started = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{self.name} is failing since {started} ({why})"

    def _platform_error(self, what: str, exc: PlatformError) -> None:
        """Count a failed request by kind; a transient one marks the platform failing (a 429
        or a refusal is an answer, and a bug is the bot's own)."""
        kind = ("rejected" if isinstance(exc, Rejected) else
                "rate_limited" if isinstance(exc, RateLimited) else
                "unforeseen" if isinstance(exc, Unforeseen) else "transient")
        self.metrics.platform_errors.labels(kind).inc()
        if kind != "transient":
            return
        if not self._failing:
            log.warning("%s is failing (%s: %s): mentions stay pending and are retried with "
                        "backoff", self.name, what, exc)
        since = self._failing.get(what, (self.clock.now(), ""))[0]
        self._failing[what] = (since, str(exc))
        self.metrics.platform_failing.set(1)

    def _platform_ok(self, what: str) -> None:
        if what == "answer":
            self._answer_failures, self._answers_blocked_until = 0, 0.0
        gone = self._failing.pop(what, None)
        if gone is not None and not self._failing:
            log.info("%s answers again after %.0fs of failures", self.name,
                     self.clock.now() - gone[0])
            self.metrics.platform_failing.set(0)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Me:
        """Sign in once. Fatal: credentials refused; Unavailable: not reachable now."""
        try:
            self.me = self.platform.start()
        except AuthFailed as exc:
            raise fatal(self.name, exc) from None
        except (Transient, RateLimited, Rejected) as exc:
            raise Unavailable(str(exc)) from None
        self.problem = None
        log.info("signed in to %s as @%s", self.name, self.me.handle)
        return self.me

    def start_with_retry(self) -> Me | None:
        """Sign in, retrying an unreachable server with the same backoff as any transient
        failure, until it answers or the bot is stopped (then None)."""
        attempt = 0
        while not self.stopping:
            try:
                return self.start()
            except Unavailable as exc:
                attempt += 1
                wait = backoff(attempt, self.rng)
                self.problem = f"cannot reach {self.name} ({exc}); retrying"
                log.warning("start attempt %d: %s is unreachable or failing (%s); retrying "
                            "in %.0fs", attempt, self.name, exc, wait)
                self.clock.wait(wait)
        return None

    def request_reload(self) -> None:
        """From a signal handler (SIGHUP): reload weights and seeds between mentions."""
        self._reload_asked = True
        self.clock.wake.set()

    def reload(self) -> bool:
        """Load the weights and seeds again; a bad file is refused and the old ones stay."""
        self._reload_asked = False
        if self.load_artist is None:
            return False
        try:
            artist = self.load_artist()
        except Exception as exc:
            log.error("reload refused, keeping the settings, weights and seeds in use: %s", exc)
            return False
        self.artist = artist
        log.info("reloaded weights from %s and %d seeds from %s", artist.weights_dir,
                 len(artist.seeds.seeds), artist.seeds_path)
        return True

    def request_stop(self) -> None:
        """From a signal handler: finish the reply in flight, then leave the loop."""
        self.stopping = True
        self.clock.wake.set()

    def run(self) -> None:
        """Poll until stopped (or until the local platform's input ends)."""
        try:
            if self.me is None and self.start_with_retry() is None:
                return
            if self.settings.daily_post_enabled:
                log.info("daily post at %s %s", self.settings.daily_post_time,
                         self.settings.timezone)
            while not self.stopping:
                if self._reload_asked:
                    self.reload()
                try:
                    wake_at = self.step()
                    if self._state_failures:
                        self._state_failures, self.problem = 0, None
                except sqlite3.Error as exc:
                    # Locked by another process, disk full, I/O error: nothing can be recorded,
                    # so nothing is answered; a reply that went out is found again later.
                    self._state_failures += 1
                    wait = backoff(self._state_failures, self.rng)
                    wake_at = self.clock.now() + wait
                    self.problem = f"state file {self.state.path} cannot be written: {exc}"
                    log.error("state file %s cannot be written (%s): not answering until it "
                              "can; free disk space or stop the other process using it; "
                              "retrying in %.0fs", self.state.path, exc, wait)
                if self.platform.finished and not self.state.pending(self.name):
                    log.info("input ended and every mention is answered; stopping")
                    break
                if self.stopping or self._reload_asked:
                    continue
                if self.clock.wait(max(0.0, wake_at - self.clock.now())):
                    self._next_poll_at = 0.0  # woken by input: look now (a backoff still holds)
        finally:
            self.platform.stop()

    def step(self) -> float:
        """Poll if it is time, answer what is due, post the daily picture if due. Returns the
        time of the next thing to do."""
        if self.clock.now() >= max(self._next_poll_at, self._fetch_blocked_until):
            self.poll()
        next_due = self.work()
        daily = self.daily_due()
        if daily is not None and daily[0] <= self.clock.now() and not self.stopping:
            self.daily_post(day=daily[1])
            daily = self.daily_due()
        return self._next_wake(next_due, daily[0] if daily is not None else 0.0)

    def cycle(self) -> float:
        """One poll and everything due (python -m bot once). Returns the seconds until the next
        thing to do."""
        self.poll()
        return max(0.0, self._next_wake(self.work()) - self.clock.now())

    def _next_wake(self, *due: float) -> float:
        """The next poll (never before a backoff or a reset), or an earlier due time (0: none)."""
        return min([max(self._next_poll_at, self._fetch_blocked_until), *(t for t in due if t)])

    # ------------------------------------------------------------ polling

    def _not_before(self) -> datetime:
        """Mentions older than the first start minus the backlog window are never answered."""
        first = self.state.first_start(self.clock.now())
        return datetime.fromtimestamp(first, UTC) - timedelta(hours=self.settings.backlog_hours)

    def poll(self) -> None:
        """Fetch the mentions since the cursor and record each one; move the cursor past the
        settled ones. A failed fetch keeps what it read, but not the cursor's move."""
        now = self.clock.now()
        self._next_poll_at = now + self.settings.poll_seconds
        cursor = self.state.cursor(self.name)
        try:
            mentions = self.platform.fetch_mentions(cursor, self._not_before())
        except Exception as exc:
            if not isinstance(exc, PlatformError):  # nobody foresaw it: log it whole, go on
                log.exception("fetching mentions failed unexpectedly")
                exc = Unforeseen(f"unexpected error: {exc!r}")
            self._record(exc.mentions_read)  # answered, but the cursor stays: a gap before them
            self._record_reactions(self.platform.take_reactions())
            self._fetch_failed(exc)
            return
        self._fetch_fail_count = 0
        self._fetch_blocked_until = 0.0
        self._platform_ok("fetch")
        reactions = self.platform.take_reactions()
        self._record_reactions(reactions)
        if not self.stats.last_poll:
            log.info("first poll: %d mentions from %s", len(mentions), self.name)
        self.stats.last_poll = self.clock.now()
        self.metrics.last_poll.set(self.stats.last_poll)
        self._record(mentions)
        self._advance_cursor(mentions, reactions)

    def _record_reactions(self, reactions: list[Reaction]) -> None:
        """Favourites and boosts of the bot's pictures, for the garden (counted once each)."""
        new = self.state.record_reactions(self.name, reactions)
        if new:
            log.info("%d new favourites or boosts of my pictures", new)

    def _record(self, mentions: list[Mention]) -> None:
        for m in sorted(mentions, key=lambda m: id_key(m.position)):
            record = self.state.record(self.name, m)
            if record.new:
                self.metrics.mentions.labels("seen").inc()
                log.info("mention %s from @%s seen", m.id, m.author,
                         extra={"mention_id": m.id, "platform": self.name, "status": "seen"})
            if record.status in ("seen", "replying"):
                self._fetched_at.setdefault(m.id, self.clock.now())
        self.stats.fetched += len(mentions)

    def _fetch_failed(self, exc: PlatformError) -> None:
        if isinstance(exc, AuthFailed):
            raise fatal(self.name, exc) from None
        self._platform_error("fetch", exc)
        if isinstance(exc, RateLimited):
            self._rate_wait()
            wait = self._until(exc.reset_at)
            log.warning("fetching mentions is rate limited; waiting %.0fs for the reset", wait)
        else:
            self.stats.retried += 1
            self._fetch_fail_count += 1
            wait = backoff(self._fetch_fail_count, self.rng)
            log.warning("fetching mentions failed (%s); retrying in %.0fs", exc, wait)
        self._fetch_blocked_until = self._next_poll_at = self.clock.now() + wait


    def _rate_wait(self) -> None:
        self.stats.rate_waits += 1
        self.metrics.rate_waits.inc()

    def _until(self, reset_at: datetime | None) -> float:
        if reset_at is None:
            return 60.0
        return min(MAX_RATE_WAIT, max(1.0, reset_at.timestamp() - self.clock.now() + 1))

    def _advance_cursor(self, mentions: list[Mention], reactions: list[Reaction]) -> None:
        """Move the cursor to the newest item a complete fetch read. Every mention is in the
        state file by now, and the state file is the queue: one that waits (for X's 24-hour
        post budget, say) is answered from there, never read again from the platform, so a
        poll asks only for what is new. Favourites and boosts are recorded once, by id."""
        positions = [m.position for m in mentions] + [r.cursor or r.id for r in reactions]
        if not positions:
            return
        newest, cursor = max(positions, key=id_key), self.state.cursor(self.name)
        if cursor is None or id_key(newest) > id_key(cursor):
            self.state.set_cursor(self.name, newest)

    # ------------------------------------------------------------ answering

    def work(self) -> float:
        """Answer every pending mention that is due, authors taking turns. Returns the time the
        next pending one is due (0: none pending)."""
        not_before = self._not_before()
        for record in round_robin(self.state.pending(self.name)):
            if self.stopping or self.clock.now() < self._answers_blocked_until:
                break  # the platform is failing: the mention that failed last probes it
            if record.next_attempt_at <= self.clock.now():
                self.handle(record, not_before)
        pending = self.state.pending(self.name)
        self.metrics.pending.set(len(pending))
        wait = max(0.0, self._budget_free_at() - self.clock.now())
        waiting = any(r.waiting_for is Wait.BUDGET for r in pending)
        self.metrics.budget_wait.set(wait if waiting else 0.0)
        return min((max(r.next_attempt_at, self._answers_blocked_until) for r in pending),
                   default=0.0)

    def _budget_free_at(self, need: int = 1) -> float:
        count, window = self.platform.media_limit
        now = self.clock.now()
        return budget_free_at(self.state.uploads_since(self.name, now - window),
                              (count, window), now, self._posts_blocked_until, need)

    def _facts(self, m: Mention, not_before: datetime | None) -> Facts:
        count, window = self.platform.media_limit
        now = self.clock.now()
        parent = self.state.pictures_of(self.name, m.in_reply_to_id) if m.in_reply_to_id else []
        return Facts(me=self.me, now=now, not_before=not_before, quota=self._quota(m.author_id),
                     uploads=self.state.uploads_since(self.name, now - window),
                     media_limit=(count, window), blocked_until=self._posts_blocked_until,
                     notes_use_budget=self.platform.budget_counts == "posts", parent=parent,
                     budget_counts=self.platform.budget_counts,
                     seed_ids=self.artist.seed_ids, text_limit=self.platform.text_limit,
                     last_help=self.state.last_help(self.name, m.author_id))

    def _quota(self, author_id: str) -> Quota:
        hour_ago = self.clock.now() - HOUR
        return Quota(self.state.replies_since(self.name, author_id, hour_ago),
                     self.state.oldest_reply_since(self.name, author_id, hour_ago),
                     self.state.last_note(self.name, author_id))

    def handle(self, record: Record, not_before: datetime | None) -> None:
        """Answer one pending mention now, or leave it pending with its due time. Never waits
        for a due time (only on I/O); an unexpected exception counts as a failed attempt of this
        mention."""
        try:
            self._handle(record, not_before)
        except (Fatal, sqlite3.Error):
            raise
        except Exception as exc:
            if is_disk_full(exc):  # written outside the platform: a full disk all the same
                assert isinstance(exc, OSError)
                folder = Path(exc.filename).parent if exc.filename else Path.cwd()
                self._failed_attempt(record, DiskFull(folder, exc))
                return
            log.exception("mention %s: answering failed unexpectedly", record.mention.id)
            self._failed_attempt(record, Unforeseen(f"unexpected error: {exc!r}"))

    def _handle(self, record: Record, not_before: datetime | None) -> None:
        m = record.mention
        if record.status == "replying" and self._found_earlier_reply(record):
            return  # a post went out before a crash or a lost answer
        out = self._outgoing(m)
        if out is not None:  # decided before: media uploaded, or a post that did not go out
            self._send(record, out)
            return
        decision = decide(m, self._facts(m, not_before), self.settings, self.artist.vocabulary)
        if decision.action == "ignore":
            self._settle(m, "ignored", decision.reason)
        elif decision.action == "refuse":
            self._settle(m, "refused", decision.reason)
        elif decision.action == "wait":
            self._wait(record, decision)
        elif decision.action == "delete":
            self._delete(record, decision)
        else:
            # Before posting anything: a reply may exist already (a state file restored from
            # a backup). Only for mentions that will be answered: "thanks!" costs nothing.
            if (record.status != "replying" and self.platform.look_before_reply
                    and self._found_earlier_reply(record)):
                return
            if decision.action == "note":
                self._send(record, Outgoing(decision.note, decision.reason, decision.text))
            else:
                self._reply(record, decision)

    def _wait(self, record: Record, decision: Decision) -> None:
        m = record.mention
        if record.reason != decision.reason or record.next_attempt_at < decision.until:
            self._rate_wait()
            log.info("mention %s: %s of %s; due in %.0fs", m.id, decision.reason, self.name,
                     decision.until - self.clock.now())
        self.state.retry_later(self.name, m.id, decision.until - self.clock.now(),
                               decision.reason, decision.wait)

    def _found_earlier_reply(self, record: Record) -> bool:
        """Look for the bot's own answer on the platform; settle the mention if there is one.
        True also when the look failed (counted as an attempt): nothing more to do now."""
        m = record.mention
        try:
            found = self.platform.find_reply(m)
        except PlatformError as exc:
            self._failed_attempt(record, exc)
            return True
        if found is None:
            return False
        log.info("mention %s: found my earlier reply %s; not replying twice", m.id, found.id)
        out = self.state.outgoing(self.name, m.id)
        if out is None:  # in flight before posts were kept, or a backup restored: no latents
            self._settle(m, "replied", "recovered", reply_id=found.id,
                         uploads=self._costs(1)[1])
        else:
            self._sent(m, out, found, recovered=True)
        return True

    def _outgoing(self, m: Mention) -> Outgoing | None:
        """The post on its way for this mention, unless its upload is too old to attach."""
        out = self.state.outgoing(self.name, m.id)
        if out is None or out.uploaded is None:
            return out
        if self.clock.now() - out.uploaded_at < UPLOAD_KEEP:
            return out
        log.info("mention %s: media %s uploaded too long ago; deciding afresh", m.id,
                 ", ".join(out.uploaded.ids))
        self.state.drop_outgoing(self.name, m.id)
        return None

    def _costs(self, pictures: int) -> tuple[int, int]:
        """What a post with this many pictures costs against the platform's budget: (at the
        upload, at the post). Mastodon counts uploads; X counts posts, whatever they carry."""
        if self.platform.budget_counts == "media":
            return pictures, 0
        return 0, 1

    def _delete(self, record: Record, decision: Decision) -> None:
        """Delete a picture at the request of the person it was made for; say nothing."""
        m, target = record.mention, decision.target
        assert target is not None
        try:
            self.platform.delete(target.post_id)
        except PlatformError as exc:
            self._failed_attempt(record, exc)
            return
        self._platform_ok("answer")
        self.state.mark_deleted(self.name, target.post_id)
        self._settle(m, "replied", decision.reason, pictures=[])
        log.info("mention %s from @%s: deleted my post %s on request", m.id, m.author,
                 target.post_id)

    def _drawings(self, m: Mention, decision: Decision) -> tuple[list[Drawing], str]:
        """The pictures a reply carries, and what kind they are."""
        request, target, artist = decision.request, decision.target, self.artist
        assert request is not None
        rid, lang = f"{self.name}:{m.id}", request.lang  # alt texts in the request's language
        if target is None or request.command in ("picture", "like"):
            drawing = artist.draw(rid, request.seed_id, lang, request.kind, request.tone)
            return [drawing], "picture"
        if request.command == "variations":
            return artist.draw_near(rid, artist.latent_of(target), 4,
                                    self.settings.variation_sigma,
                                    target.seed_id, lang), "variation"
        if request.command == "morph":
            return [artist.morph(rid, artist.latent_of(target), target.seed_id, lang)], "morph"
        # again: near the same good seed; if the curator has removed it since, near the
        # picture itself with the same noise
        if target.seed_id is not None and target.seed_id in artist.seed_ids:
            return [artist.draw(rid, target.seed_id, lang)], "picture"
        return artist.draw_near(rid, artist.latent_of(target), 1, self.settings.sigma,
                                target.seed_id, lang), "picture"

    def _reply(self, record: Record, decision: Decision) -> None:
        """Draw, upload and keep the reply on its way (its text, latents and media), then send
        it: at once when the media is ready, from the loop when the platform processes it."""
        m, request = record.mention, decision.request
        assert request is not None
        with self.metrics.generation.time():
            try:
                drawings, kind = self._drawings(m, decision)
            except Exception as exc:  # a broken generator must not crash-loop the service
                log.exception("mention %s: drawing failed", m.id)
                self._settle(m, "failed", f"drawing failed: {exc}")
                return
        # The budget again, at the moment of the upload: the decision was taken before the
        # look for an earlier reply, and nothing may go past the platform's limit.
        at_upload, at_post = self._costs(len(drawings))
        free_at = self._budget_free_at(at_upload + at_post)
        if free_at > self.clock.now():
            self._wait(record, Decision("wait", "waiting for the media budget", until=free_at,
                                        wait=Wait.BUDGET))
            return
        try:
            uploaded = self.platform.upload([d.media for d in drawings])
        except PlatformError as exc:
            self._failed_attempt(record, exc)
            return
        parent = decision.target.post_id if decision.target is not None else None
        pictures = tuple(Picture("", kind, d.z, d.seed_id, d.sigma, idx=i, mention_id=m.id,
                                 for_author_id=m.author_id, parent_post_id=parent,
                                 morph_to=d.morph_to, classes=dict(d.classes))
                         for i, d in enumerate(drawings))
        out = Outgoing("reply", request.command,
                       reply_text(m, drawings, request, self.settings,
                                  self.platform.text_limit, self.artist.vocabulary),
                       pictures, uploaded,
                       self.clock.now())
        self.state.save_outgoing(self.name, m.id, out, uploads=at_upload)
        if not uploaded.ready:  # asked again when the platform says, from the loop
            self._processing(record, uploaded)
            return
        self._send(record, out)

    def _send(self, record: Record, out: Outgoing) -> None:
        """The one way a post answers a mention, reply or note: media processed, the post
        budget free, the mention marked replying with what it is, then posted and settled."""
        m = record.mention
        if out.uploaded is not None and not out.uploaded.ready:
            checked = self._check_processing(record, out)
            if checked is None:
                return
            out = checked
        if self.platform.budget_counts == "posts":  # X: the post itself is what counts
            free_at = self._budget_free_at(1)
            if free_at > self.clock.now():
                self._wait(record, Decision("wait", "waiting for the media budget",
                                            until=free_at, wait=Wait.BUDGET))
                return
        if out.uploaded is not None:
            log.info("mention %s: media %s uploaded, posting the reply", m.id,
                     ", ".join(out.uploaded.ids))
        self.state.start_reply(self.name, m.id, out)
        try:
            if out.is_note:
                posted = self.platform.send_note(m, out.text)
            else:
                assert out.uploaded is not None
                posted = self.platform.reply(m, out.text, out.uploaded)
        except PlatformError as exc:
            self._failed_attempt(record, exc)
            return
        self._sent(m, out, posted)

    def _check_processing(self, record: Record, out: Outgoing) -> Outgoing | None:
        """Ask the platform once about media it is processing: the post when it is ready, else
        None (the mention stays pending until the platform's next check, or has failed)."""
        m = record.mention
        assert out.uploaded is not None
        try:
            uploaded = self.platform.processed(out.uploaded)
        except PlatformError as exc:
            self._failed_attempt(record, exc)  # Rejected (processing failed) settles it
            return None
        out = replace(out, uploaded=uploaded)
        if uploaded.ready:
            return out
        if self.clock.now() - out.uploaded_at >= PROCESSING_LIMIT:
            self.state.drop_outgoing(self.name, m.id)
            self._failed_attempt(record, Transient(
                f"media {', '.join(uploaded.waiting)} still being processed after "
                f"{PROCESSING_LIMIT / 60:.0f} min; uploading it again"))
            return None
        self.state.save_outgoing(self.name, m.id, out)
        self._processing(record, uploaded)
        return None

    def _processing(self, record: Record, uploaded: Uploaded) -> None:
        m = record.mention
        if not uploaded.checks:
            log.info("mention %s: %s is processing media %s; looking again from the loop",
                     m.id, self.name, ", ".join(uploaded.waiting))
        self.state.retry_later(self.name, m.id, uploaded.check_in,
                               f"media being processed ({uploaded.checks} looks so far)",
                               Wait.PROCESSING)

    def _sent(self, m: Mention, out: Outgoing, posted: Posted, recovered: bool = False) -> None:
        """Settle a mention whose post is out (sent now, or found after a crash)."""
        self._platform_ok("answer")
        uploads = self._costs(len(out.pictures))[1]
        if out.is_note:
            self._noted(m, out, posted, uploads)
            return
        pictures = [replace(p, post_id=posted.id, url=posted.url) for p in out.pictures]
        self._settle(m, "replied", "recovered" if recovered else out.reason,
                     reply_id=posted.id, seed_id=pictures[0].seed_id, pictures=pictures,
                     uploads=uploads)
        started = self._fetched_at.pop(m.id, None)
        if started is not None:
            self.stats.latencies.append(self.clock.now() - started)
            self.metrics.reply_latency.observe(self.clock.now() - started)
        log.info("mention %s from @%s: replied %s (%s, seed %s)", m.id, m.author, posted.id,
                 out.reason, pictures[0].seed_id, extra={
                     "mention_id": m.id, "platform": self.name, "status": "replied"})

    def _noted(self, m: Mention, out: Outgoing, posted: Posted, uploads: int) -> None:
        """A text-only answer is out (the limit note, the help, "no such seed"): remember
        it for the per-person rules, and settle the mention."""
        if out.kind == "help":  # asked for: its own rule, once a day
            self.state.record_help(self.name, m.author_id)
        else:  # every other note: one per person per hour, whatever its kind
            self.state.record_note(self.name, m.author_id)
        if out.kind == "help":
            self._settle(m, "replied", "help", reply_id=posted.id, pictures=[],
                         uploads=uploads)
        else:
            self._settle(m, "refused", out.reason, uploads=uploads)

    def _failed_attempt(self, record: Record, exc: PlatformError) -> None:
        """One failed request (a lookup, an upload, a post) or unexpected error while
        answering a mention. `record` is the mention as this handling found it: the attempt is
        counted once, here, unless start_reply counted it already (the post itself)."""
        m = record.mention
        if isinstance(exc, AuthFailed):
            raise fatal(self.name, exc) from None
        self._platform_error("answer", exc)
        if isinstance(exc, Rejected):
            log.warning("mention %s: %s refused the reply (%s)", m.id, self.name, exc)
            self._settle(m, "failed", f"rejected: {exc}")
            return
        if isinstance(exc, RateLimited):
            # No post at all before the reset: another mention would only meet the same 429,
            # after uploading its image for nothing.
            self._rate_wait()
            wait = self._until(exc.reset_at)
            self._posts_blocked_until = max(self._posts_blocked_until,
                                            self.clock.now() + wait)
            self.state.retry_later(self.name, m.id, wait, f"rate limited: {exc}",
                                   Wait.RATE_LIMIT)
            log.warning("mention %s: rate limited; waiting %.0fs for the reset", m.id, wait)
            return
        current = self.state.get(self.name, m.id) or record
        if current.attempts <= record.attempts:
            self.state.count_attempt(self.name, m.id)
        attempts = record.attempts + 1
        given_up = self._given_up(m, attempts, exc)
        if given_up:
            log.error("mention %s: giving up after %s", m.id, given_up)
            self._settle(m, "failed", given_up)
            return
        if isinstance(exc, Unforeseen):  # this mention's trouble: the others go on
            wait = backoff(attempts, self.rng)
        else:  # the platform's (or the disk's): every mention waits behind this one
            self._answer_failures += 1
            wait = backoff(max(attempts, self._answer_failures), self.rng)
            self._answers_blocked_until = self.clock.now() + wait
        self.stats.retried += 1
        self.state.retry_later(self.name, m.id, wait, str(exc), Wait.RETRY)
        log.warning("mention %s: attempt %d failed (%s); retrying in %.0fs", m.id, attempts,
                    exc, wait)

    def _given_up(self, m: Mention, attempts: int, exc: Transient) -> str | None:
        """Why a mention whose attempt failed is given up (None: it is tried again). A bug
        gives up after BOT_MAX_ATTEMPTS; a transient failure once the mention has left its
        backlog window: an answer later than that is no answer."""
        if isinstance(exc, Unforeseen) and attempts >= self.settings.max_attempts:
            return f"{attempts} attempts: {exc}"  # BOT_MAX_ATTEMPTS
        window = max(self.settings.backlog_hours * HOUR, RETRY_WINDOW)
        age = self.clock.now() - m.created_at.timestamp()
        if age > window:
            return (f"{attempts} attempts: still failing {age / HOUR:.1f} h after the "
                    f"mention, past its {window / HOUR:g} h window (BOT_BACKLOG_HOURS): {exc}")
        return None

    def _settle(self, m: Mention, status: str, reason: str | None,
                reply_id: str | None = None, seed_id: int | None = None,
                pictures: list[Picture] | None = None, uploads: int = 0) -> None:
        self.state.settle(self.name, m.id, status, reason, reply_id, seed_id, pictures,
                          uploads)
        self.metrics.mentions.labels(status).inc()
        if reply_id is None:  # settled without a post of its own (a delete too): tidy up
            self.platform.settle(m)
        if status != "replied":
            self._fetched_at.pop(m.id, None)
            log.info("mention %s from @%s: %s (%s)", m.id, m.author, status, reason,
                     extra={"mention_id": m.id, "platform": self.name, "status": status})
        setattr(self.stats, status, getattr(self.stats, status) + 1)

    # ------------------------------------------------------------ the daily post

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def daily_due(self) -> tuple[float, str] | None:
        """When today's (or the next) daily post is due; the state file says what was made."""
        return daily_due_at(self.clock.now(), self.settings,
                            lambda day: self.state.daily(self.name, day) is not None,
                            max(self._daily_not_before, self._budget_free_at()))

    daily_failure: DailyFailure | None = None  # why the last daily post was not made

    def today(self) -> str:
        """The local day (BOT_TIMEZONE) it is now: what the daily posts are keyed by."""
        return datetime.fromtimestamp(self.clock.now(), self._zone()).date().isoformat()

    def daily_post(self, force: bool = False, day: str | None = None) -> str | None:
        """Post the day's picture (default: today's) unless it was posted already. Returns the
        post id; None when it was made already or failed (`daily_failure` says why). A
        failure releases the day's claim, so the loop tries again DAILY_RETRY later (within
        the post's grace), unless the post may have gone out: never two posts on one day."""
        day = day or self.today()
        self.daily_failure = None
        key = f"daily-{day}"
        claimed = self.state.claim_daily(self.name, day)
        if not claimed:
            if not force:
                log.info("daily post for %s was made already; not posting twice", day)
                return None
            key = f"daily-{day}-{int(self.clock.now())}"
        try:
            favourite = self.yesterdays_favourite(day)
            drawing, text = self._daily_drawing(key, favourite)
        except Exception as exc:  # nothing was sent: the day stays open
            log.exception("daily post for %s: drawing it failed", day)
            self._daily_failed(day, exc, release=claimed)
            if isinstance(exc, sqlite3.Error):
                raise  # the loop waits for the state file (and /healthz says why)
            return None
        try:
            posted = self.platform.post(text, [drawing.media], key)
        except AuthFailed as exc:
            self._daily_failed(day, exc, release=claimed)
            raise fatal(self.name, exc) from None
        except (Rejected, RateLimited) as exc:  # certainly not posted
            self._daily_failed(day, exc, release=claimed)
            return None
        except Exception as exc:  # a 5xx, a lost answer, an error nobody foresaw: maybe posted
            if not isinstance(exc, PlatformError):
                log.exception("daily post for %s: posting failed unexpectedly", day)
            # Nothing went out when it failed before the post itself was asked for (an upload
            # on X); with idempotent posts a retry under the same key cannot post twice.
            unsent = isinstance(exc, PlatformError) and not exc.may_have_posted
            self._daily_failed(day, exc, release=claimed and (
                unsent or self.platform.idempotent_posts))
            return None
        # one transaction: the day marked posted, its cost counted, its picture remembered
        self.state.finish_daily(self.name, day, posted.id, uploads=1, pictures=[Picture(
            posted.id, "daily", drawing.z, drawing.seed_id, drawing.sigma, url=posted.url,
            classes=dict(drawing.classes),
            parent_post_id=favourite.post_id if favourite is not None else None)])
        log.info("daily post for %s: %s%s", day, posted.id,
                 f" (near {favourite.post_id}, yesterday's favourite)" if favourite else "")
        return posted.id

    def _daily_failed(self, day: str, exc: Exception, release: bool) -> None:
        """Remember why the day's post was not made; release: free the day's claim (nothing
        went out, or a retry cannot post twice) and try again DAILY_RETRY later."""
        if release:
            self.state.release_daily(self.name, day)
            self._daily_not_before = self.clock.now() + DAILY_RETRY
            message = (f"the daily post for {day} was not made ({exc}); it is tried again in "
                       f"{DAILY_RETRY / 60:.0f} min, or now with python -m bot post")
        else:
            message = (f"the daily post for {day} failed ({exc}) and may have gone out; it is "
                       "not tried again that day, so it is never posted twice: look at the "
                       "account")
        self.daily_failure = DailyFailure(message, exc)
        log.warning("%s", message)

    def yesterdays_favourite(self, day: str) -> Picture | None:
        """The most favourited (then boosted) of the pictures made on the local day before
        `day` whose latent this generator takes, or None when nobody reacted to any. Pictures
        drawn by other weights (another z_dim, before a SIGHUP) are skipped, as the explorer's
        popular panel skips them: their latent would crash the drawing."""
        zone = self._zone()
        start = datetime.fromisoformat(day).replace(tzinfo=zone)
        since = (start - timedelta(days=1)).timestamp()
        z_dim, limit = self.artist.sampler.z_dim, 8
        while True:  # ask for more while pictures of other weights crowd the right ones out
            found = self.state.popular(self.name, since, start.timestamp(), limit=limit)
            fitting = [p for p in found if len(p.z) == z_dim
                       and all(math.isfinite(v) for v in p.z)]
            if fitting or len(found) < limit:
                return fitting[0] if fitting else None
            limit *= 4

    def _daily_drawing(self, key: str, favourite: Picture | None) -> tuple[Drawing, str]:
        """Near yesterday's favourite when there is one (and the post says so), else near a
        good seed. The bot never changes its seeds itself: the curator does."""
        if favourite is None:
            drawing = self.artist.draw(key)
        else:
            drawing = self.artist.draw_near(key, self.artist.latent_of(favourite), 1,
                                            self.settings.variation_sigma,
                                            favourite.seed_id)[0]
        return drawing, daily_text(drawing, favourite, vocabulary=self.artist.vocabulary)

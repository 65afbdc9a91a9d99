"""The poll loop: mentions in, pictures out, nothing lost, nothing twice.

One cycle: fetch the mentions since the cursor, record each one before doing anything, answer
those that are due (oldest first), then move the cursor past the settled prefix. Errors are
sorted by kind: a 429 is waited out until its reset, 5xx and network errors back off
exponentially with jitter, a 401 stops the bot with a message, and a refusal for one mention
settles that mention as failed. SIGTERM or SIGINT lets the reply in flight finish, then the
loop exits. The daily post is scheduled by APScheduler and runs on the loop's thread, so the
platform client and the database are only ever used from one thread.
"""

from __future__ import annotations

import logging
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot import commands
from bot.artist import Artist
from bot.config import Settings
from bot.observe import Metrics
from bot.platforms.base import (
    AuthFailed,
    Me,
    Mention,
    Platform,
    PlatformError,
    RateLimited,
    Rejected,
    Transient,
    id_key,
)
from bot.state import Record, State

log = logging.getLogger("bot.service")

_NOBOT = re.compile(r"#nobots?\b", re.IGNORECASE)
BACKOFF_BASE = 2.0
BACKOFF_CAP = 15 * 60.0
MAX_RATE_WAIT = 20 * 60.0  # a reset further away than this is re-checked after this long
DAILY_GRACE = 3600  # a daily post missed by less than this (restart, downtime) still goes out


class Fatal(Exception):
    """Stop the bot: retrying cannot help (bad credentials)."""


def backoff(attempt: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter: up to 2, 4, 8 ... s, capped at 15 min."""
    return rng.uniform(0.5, 1.0) * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempt - 1))


def has_nobot(bio: str) -> bool:
    return bool(_NOBOT.search(commands.normalise(commands.strip_html(bio))))


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


def reply_text(mention: Mention, seed_id: int | None, trigger: str) -> str:
    seed = f"from seed #{seed_id}" if seed_id is not None else "from a random seed"
    return (f"@{mention.author} Here is a human, drawn {seed}. "
            f"Mention me with \"{trigger}\" again for another one.")


def note_text(mention: Mention, limit: int, minutes: int) -> str:
    return (f"@{mention.author} You have had {limit} pictures this hour, which is my limit "
            f"per person. Please ask again in about {minutes} minutes.")


@dataclass
class Clock:
    """Wall time and an interruptible wait, injectable for tests."""

    now: Callable[[], float] = time.time
    wake: threading.Event = field(default_factory=threading.Event)

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, returning early when woken (signal, new input, daily post)."""
        if seconds > 0:
            self.wake.wait(seconds)
        self.wake.clear()


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
    latencies: list[float] = field(default_factory=list)  # seconds, fetch to posted


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
        self.daily_due = False
        self.me: Me | None = None
        self._scheduler = None
        self._fetched_at: dict[str, float] = {}
        self._fetch_fail_count = 0
        self._state_failures = 0
        self._daily_retry_at: float | None = None
        self.metrics = metrics or Metrics()
        self.load_artist = load_artist  # SIGHUP: weights and seeds read again
        self._reload_asked = False

    @property
    def name(self) -> str:
        return self.platform.name

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Me:
        try:
            self.me = self.platform.start()
        except AuthFailed as exc:
            raise Fatal(f"{self.name} refused the credentials ({exc}); check the tokens with "
                        "python -m bot check") from None
        log.info("signed in to %s as @%s", self.name, self.me.handle)
        return self.me

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
            log.error("reload refused, keeping the weights and seeds in use: %s", exc)
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
        if self.me is None:
            self.start()
        if self.settings.daily_post_enabled:
            self._start_scheduler()
            self._catch_up_daily()
        try:
            while not self.stopping:
                if self._reload_asked:
                    self.reload()
                try:
                    delay = self.cycle()
                    self._state_failures = 0
                except sqlite3.Error as exc:
                    # Locked by another process, disk full, I/O error: nothing can be recorded,
                    # so nothing is answered; a reply that went out is found again later.
                    self._state_failures += 1
                    delay = backoff(self._state_failures, self.rng)
                    log.error("state file %s cannot be written (%s): not answering until it "
                              "can; free disk space or stop the other process using it; "
                              "retrying in %.0fs", self.state.path, exc, delay)
                if (self._daily_retry_at is not None
                        and self.clock.now() >= self._daily_retry_at):
                    self._daily_retry_at, self.daily_due = None, True
                if self.daily_due and not self.stopping:
                    self.daily_due = False
                    self.daily_post()
                if self.platform.finished and not self.state.pending(self.name):
                    log.info("input ended and every mention is answered; stopping")
                    break
                if not self.stopping and not self._reload_asked:
                    self.clock.wait(delay)
        finally:
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=False)
            self.platform.stop()

    # ------------------------------------------------------------ one cycle

    def cycle(self) -> float:
        """Fetch, answer what is due, move the cursor. Returns the seconds until the next one."""
        poll = self.settings.poll_seconds
        cursor = self.state.cursor(self.name)
        # Mentions older than the first start minus the backlog window are never answered.
        not_before = datetime.fromtimestamp(self.state.first_start(self.clock.now()), UTC
                                            ) - timedelta(hours=self.settings.backlog_hours)
        try:
            mentions = self.platform.fetch_mentions(cursor, not_before)
        except RateLimited as exc:
            self._rate_wait()
            wait = self._until(exc.reset_at)
            log.warning("fetching mentions is rate limited; waiting %.0fs for the reset", wait)
            return wait
        except (Transient, Rejected) as exc:
            self.stats.retried += 1
            wait = backoff(self._fetch_failures(), self.rng)
            log.warning("fetching mentions failed (%s); retrying in %.0fs", exc, wait)
            return wait
        except AuthFailed as exc:
            raise Fatal(f"{self.name} refused the credentials ({exc}); check the tokens with "
                        "python -m bot check") from None
        self._fetch_fail_count = 0
        if not self.stats.last_poll:
            log.info("first poll: %d mentions from %s", len(mentions), self.name)
        self.stats.last_poll = self.clock.now()
        self.metrics.last_poll.set(self.stats.last_poll)
        mentions.sort(key=lambda m: id_key(m.position))
        for m in mentions:
            record = self.state.record(self.name, m)
            if record.new:
                self.metrics.mentions.labels("seen").inc()
                log.info("mention %s from @%s seen", m.id, m.author,
                         extra={"mention_id": m.id, "platform": self.name, "status": "seen"})
            if record.status in ("seen", "replying"):
                self._fetched_at.setdefault(m.id, self.clock.now())
        self.stats.fetched += len(mentions)

        next_due = poll
        for record in round_robin(self.state.pending(self.name)):
            if self.stopping:
                break
            due_in = record.next_attempt_at - self.clock.now()
            if due_in > 0:
                next_due = min(next_due, due_in)
                continue
            wait = self.handle(record, not_before)
            if wait is not None:  # rate limited: stop this cycle and come back after the reset
                next_due = wait
                break
        self._advance_cursor(mentions)
        return max(0.0, next_due)

    def _rate_wait(self) -> None:
        self.stats.rate_waits += 1
        self.metrics.rate_waits.inc()

    def _fetch_failures(self) -> int:
        self._fetch_fail_count += 1
        return self._fetch_fail_count

    def _until(self, reset_at: datetime | None) -> float:
        if reset_at is None:
            return 60.0
        return min(MAX_RATE_WAIT, max(1.0, reset_at.timestamp() - self.clock.now() + 1))

    def _advance_cursor(self, mentions: list[Mention]) -> None:
        """Move the cursor to the newest mention before the first one still pending."""
        newest = None
        for m in mentions:  # oldest first
            record = self.state.get(self.name, m.id)
            if record is None or record.status in ("seen", "replying"):
                break
            newest = m.position
        if newest is not None:
            self.state.set_cursor(self.name, newest)

    # ------------------------------------------------------------ one mention

    def handle(self, record: Record, not_before: datetime | None) -> float | None:
        """Answer one pending mention. Returns a wait in seconds when rate limited."""
        m = record.mention
        if record.status == "replying" or self.platform.look_before_reply:
            # A reply may have gone out before a crash or a timeout, or before the state file
            # was restored from a backup: look before replying (again).
            try:
                found = self.platform.find_reply(m)
            except PlatformError as exc:
                return self._failed_attempt(record, exc)
            if found is not None:
                log.info("mention %s: found my earlier reply %s; not replying twice", m.id,
                         found.id)
                self._settle(m, "replied", "recovered", reply_id=found.id)
                return None

        reason = self._reason_to_ignore(m, not_before)
        if reason is not None:
            self._settle(m, "ignored", reason)
            return None
        request = commands.parse(m.text, self.settings.triggers, m.is_html)
        if request is None:
            self._settle(m, "ignored", "no trigger phrase")
            return None

        if self._user_limited(m):
            return None

        wait = self._pace()
        if wait > 0:
            self._rate_wait()
            log.info("media limit of %s reached; waiting %.0fs", self.name, wait)
            self.clock.wait(wait)
            if self.stopping:
                return None

        try:
            with self.metrics.generation.time():
                drawing = self.artist.draw(f"{self.name}:{m.id}")
        except Exception as exc:  # a broken generator must not crash-loop the service
            log.exception("mention %s: drawing failed", m.id)
            self._settle(m, "failed", f"drawing failed: {exc}")
            return None
        self.state.start_reply(self.name, m.id)
        try:
            posted = self.platform.reply(m, reply_text(m, drawing.seed_id, request.trigger),
                                         drawing.png, drawing.alt_text)
        except PlatformError as exc:
            return self._failed_attempt(self.state.get(self.name, m.id) or record, exc)
        self.state.record_upload(self.name)
        self._settle(m, "replied", None, reply_id=posted.id, seed_id=drawing.seed_id)
        started = self._fetched_at.pop(m.id, None)
        if started is not None:
            self.stats.latencies.append(self.clock.now() - started)
            self.metrics.reply_latency.observe(self.clock.now() - started)
        log.info("mention %s from @%s: replied %s (seed %s)", m.id, m.author, posted.id,
                 drawing.seed_id, extra={"mention_id": m.id, "platform": self.name,
                                         "status": "replied"})
        return None

    def _reason_to_ignore(self, m: Mention, not_before: datetime | None) -> str | None:
        if self.me is not None and (m.author_id == self.me.id or
                                    m.author.casefold() == self.me.handle.casefold()):
            return "my own post"
        if m.author_is_bot:
            return "author is a bot"
        if has_nobot(m.author_bio):
            return "author's bio has #nobot"
        if not_before is not None and m.created_at < not_before:
            return "older than the backlog window"
        return None

    def _user_limited(self, m: Mention) -> bool:
        """True (and the mention settled as refused) when the author is over the limit."""
        limit = self.settings.user_limit_per_hour
        if limit <= 0:
            return False
        hour_ago = self.clock.now() - 3600
        if self.state.replies_since(self.name, m.author_id, hour_ago) < limit:
            return False
        noted = self.state.last_note(self.name, m.author_id)
        if noted is None or noted < hour_ago:  # one polite note per window, then silence
            oldest = self.state.oldest_reply_since(self.name, m.author_id, hour_ago) or hour_ago
            minutes = max(1, round((oldest + 3600 - self.clock.now()) / 60))
            try:
                self.platform.send_note(m, note_text(m, limit, minutes))
            except (RateLimited, Transient) as exc:
                log.warning("mention %s: the limit note failed (%s); staying silent", m.id, exc)
            except Rejected as exc:
                log.warning("mention %s: the limit note was refused (%s)", m.id, exc)
            else:
                self.state.record_note(self.name, m.author_id)
        self._settle(m, "refused", f"over {limit} per hour")
        return True

    def _pace(self) -> float:
        """Seconds to wait so that uploads stay within the platform's media limit."""
        count, window = self.platform.media_limit
        recent = self.state.uploads_since(self.name, self.clock.now() - window)
        if len(recent) < count:
            return 0.0
        return recent[len(recent) - count] + window - self.clock.now()

    def _failed_attempt(self, record: Record, exc: PlatformError) -> float | None:
        m = record.mention
        if isinstance(exc, AuthFailed):
            raise Fatal(f"{self.name} refused the credentials ({exc}); check the tokens with "
                        "python -m bot check") from None
        if isinstance(exc, Rejected):
            log.warning("mention %s: %s refused the reply (%s)", m.id, self.name, exc)
            self._settle(m, "failed", f"rejected: {exc}")
            return None
        if isinstance(exc, RateLimited):
            self._rate_wait()
            wait = self._until(exc.reset_at)
            self.state.retry_later(self.name, m.id, wait, f"rate limited: {exc}")
            log.warning("mention %s: rate limited; waiting %.0fs for the reset", m.id, wait)
            return wait
        attempts = max(1, record.attempts)
        if attempts >= self.settings.max_attempts:
            log.error("mention %s: giving up after %d attempts (%s)", m.id, attempts, exc)
            self._settle(m, "failed", f"{attempts} attempts: {exc}")
            return None
        wait = backoff(attempts, self.rng)
        self.stats.retried += 1
        self.state.retry_later(self.name, m.id, wait, str(exc))
        log.warning("mention %s: attempt %d failed (%s); retrying in %.0fs", m.id, attempts,
                    exc, wait)
        return None

    def _settle(self, m: Mention, status: str, reason: str | None,
                reply_id: str | None = None, seed_id: int | None = None) -> None:
        self.state.settle(self.name, m.id, status, reason, reply_id, seed_id)
        self.metrics.mentions.labels(status).inc()
        if status != "replied":
            self._fetched_at.pop(m.id, None)
            self.platform.settle(m)
            log.info("mention %s from @%s: %s (%s)", m.id, m.author, status, reason,
                     extra={"mention_id": m.id, "platform": self.name, "status": status})
        counter = {"replied": "replied", "ignored": "ignored", "refused": "refused",
                   "failed": "failed"}[status]
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)

    # ------------------------------------------------------------ the daily post

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def _start_scheduler(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger

        t = self.settings.daily_time
        scheduler = BackgroundScheduler(timezone=self._zone())
        scheduler.add_job(self._daily_due, CronTrigger(hour=t.hour, minute=t.minute,
                                                       timezone=self._zone()),
                          id="daily-post", name="daily post", coalesce=True,
                          misfire_grace_time=DAILY_GRACE, max_instances=1)
        scheduler.start()
        self._scheduler = scheduler
        log.info("daily post scheduled at %s %s", self.settings.daily_post_time,
                 self.settings.timezone)

    def _daily_due(self) -> None:  # on the scheduler's thread: only flag and wake the loop
        self.daily_due = True
        self.clock.wake.set()

    def _catch_up_daily(self) -> None:
        """A restart just after the post time (within the grace) still posts today's."""
        now = datetime.fromtimestamp(self.clock.now(), self._zone())
        t = self.settings.daily_time
        planned = now.replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)
        if timedelta(0) <= now - planned <= timedelta(seconds=DAILY_GRACE):
            self.daily_due = True

    def daily_post(self, force: bool = False) -> str | None:
        """Post today's picture unless it was posted already. Returns the post id."""
        day = datetime.fromtimestamp(self.clock.now(), self._zone()).date().isoformat()
        key = f"daily-{day}"
        if not self.state.claim_daily(self.name, day):
            if not force:
                log.info("daily post for %s was made already; not posting twice", day)
                return None
            key = f"daily-{day}-{int(self.clock.now())}"
        try:
            drawing = self.artist.draw(key)
            posted = self.platform.post(
                f"Today's human (seed #{drawing.seed_id})." if drawing.seed_id is not None
                else "Today's human.", drawing.png, drawing.alt_text, key)
        except (Rejected, RateLimited) as exc:  # certainly not posted: allow a later retry
            self.state.release_daily(self.name, day)
            self._daily_retry_at = self.clock.now() + 600
            log.warning("daily post for %s not made (%s); trying again in 10 min", day, exc)
            return None
        except Transient as exc:
            if self.platform.idempotent_posts:  # a retry with the same key cannot duplicate
                self.state.release_daily(self.name, day)
                self._daily_retry_at = self.clock.now() + 600
            log.warning("daily post for %s failed (%s)", day, exc)
            return None
        except AuthFailed as exc:
            raise Fatal(f"{self.name} refused the credentials ({exc})") from None
        self.state.finish_daily(self.name, day, posted.id)
        self.state.record_upload(self.name)
        log.info("daily post for %s: %s", day, posted.id)
        return posted.id

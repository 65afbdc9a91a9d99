"""The loop: start, run until stopped, one step at a time (poll, answer what is due, the daily
post), reload on SIGHUP. The jobs are the parts Service is made of (polling, answering, the
outbox, the retry policy, the daily post), one module each.
"""

from __future__ import annotations

import logging
import random
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

import bot.service.retry as retry  # as a module: tests make its backoff instant
from bot.drawing.artist import Artist
from bot.ops.metrics import Metrics
from bot.platforms.base import Me, Platform
from bot.platforms.errors import (
    AuthFailed,
    RateLimited,
    Rejected,
    Transient,
)
from bot.service.answering import Answering
from bot.service.clock import Clock, Stats
from bot.service.daily import DailyPost
from bot.service.outbox import Outbox
from bot.service.polling import Polling
from bot.service.retry import Retrying, Unavailable, fatal
from bot.settings import Settings
from bot.state.store import State

log = logging.getLogger("bot.service")


class Service(Polling, Answering, Outbox, Retrying, DailyPost):
    """The executor: one object, its methods kept by job in the modules of its parts (one
    class per module, no state of their own: every attribute is set here)."""

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
                wait = retry.backoff(attempt, self.rng)
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
                    wait = retry.backoff(self._state_failures, self.rng)
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

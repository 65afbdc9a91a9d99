"""The retry policy: each kind of error mapped to what the service does about it.

A 429 is waited out until its reset; a transient failure backs off exponentially with
jitter for as long as the mention is within its backlog window; an unforeseen error is
retried like a transient one but given up after BOT_MAX_ATTEMPTS; a refused account stops
the bot (Fatal); a permanent refusal settles the mention as failed.
"""

from __future__ import annotations

import logging
import random

from bot.conversation.decision import (
    HOUR,
)
from bot.platforms.base import Mention
from bot.platforms.errors import (
    AuthFailed,
    ErrorKind,
    PlatformError,
    RateLimited,
    Rejected,
    Transient,
)
from bot.state.records import Record
from bot.state.schema import Status, Wait

log = logging.getLogger("bot.service")  # one logger name for the whole service


BACKOFF_BASE = 2.0


# The longest wait between two tries while a platform fails: after the first few tries an
# outage costs one request per 7.5 to 15 minutes (jitter), and a mention waits at most this
# long after the platform is back.
BACKOFF_CAP = 15 * 60.0


RETRY_WINDOW = 3600.0  # a mention is retried for BOT_BACKLOG_HOURS, but never less than this


MAX_RATE_WAIT = 20 * 60.0  # a reset further away than this is re-checked after this long


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


def error_kind(exc: PlatformError) -> ErrorKind:
    if isinstance(exc, AuthFailed):
        return ErrorKind.AUTH_FAILED
    if isinstance(exc, Rejected):
        return ErrorKind.REJECTED
    if isinstance(exc, RateLimited):
        return ErrorKind.RATE_LIMITED
    return ErrorKind.UNFORESEEN if isinstance(exc, Unforeseen) else ErrorKind.TRANSIENT


def backoff(attempt: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter: up to 2, 4, 8 ... s, capped at 15 min."""
    return rng.uniform(0.5, 1.0) * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempt - 1))


class Retrying:
    """One part of Service (bot.service.loop): what a failed request does to the mention
    and to the platform's standing (failing, blocked until when)."""

    def _platform_error(self, what: str, exc: PlatformError) -> None:
        """Count a failed request by kind; a transient one marks the platform failing (a 429
        or a refusal is an answer, and a bug is the bot's own)."""
        kind = error_kind(exc)  # never AUTH_FAILED: that stops the bot before it is counted
        self.metrics.platform_errors.labels(kind).inc()
        if kind is not ErrorKind.TRANSIENT:
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

    def _failed_attempt(self, record: Record, exc: PlatformError) -> None:
        """One failed request (a lookup, an upload, a post) or unexpected error while
        answering a mention. `record` is the mention as this handling found it: the attempt is
        counted once, here, unless start_reply counted it already (the post itself)."""
        m, kind = record.mention, error_kind(exc)
        if kind is ErrorKind.AUTH_FAILED:
            raise fatal(self.name, exc) from None
        self._platform_error("answer", exc)
        if kind is ErrorKind.REJECTED:
            log.warning("mention %s: %s refused the reply (%s)", m.id, self.name, exc)
            self._settle(m, Status.FAILED, f"rejected: {exc}")
            return
        if kind is ErrorKind.RATE_LIMITED:
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
            self._settle(m, Status.FAILED, given_up)
            return
        if kind is ErrorKind.UNFORESEEN:  # this mention's trouble: the others go on
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

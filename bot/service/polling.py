"""Polling and the cursor: mentions and reactions fetched, each recorded before anything is
done with it, the cursor moved past the settled ones.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import bot.service.retry as retry  # as a module: tests make its backoff instant
from bot.platforms.base import Mention, Reaction, id_key
from bot.platforms.errors import (
    ErrorKind,
    PlatformError,
)
from bot.service.retry import MAX_RATE_WAIT, Unforeseen, error_kind, fatal
from bot.state.records import Record
from bot.state.schema import PENDING, Status

log = logging.getLogger("bot.service")  # one logger name for the whole service


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


class Polling:
    """One part of Service (bot.service.loop): fetch, record, move the cursor."""

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
                self.metrics.mentions.labels(Status.SEEN).inc()
                log.info("mention %s from @%s seen", m.id, m.author,
                         extra={"mention_id": m.id, "platform": self.name, "status": Status.SEEN})
            if record.status in PENDING:
                self._fetched_at.setdefault(m.id, self.clock.now())
        self.stats.fetched += len(mentions)

    def _fetch_failed(self, exc: PlatformError) -> None:
        kind = error_kind(exc)
        if kind is ErrorKind.AUTH_FAILED:
            raise fatal(self.name, exc) from None
        self._platform_error("fetch", exc)
        if kind is ErrorKind.RATE_LIMITED:
            self._rate_wait()
            wait = self._until(exc.reset_at)
            log.warning("fetching mentions is rate limited; waiting %.0fs for the reset", wait)
        else:
            self.stats.retried += 1
            self._fetch_fail_count += 1
            wait = retry.backoff(self._fetch_fail_count, self.rng)
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

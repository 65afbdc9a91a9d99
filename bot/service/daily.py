"""The daily post: at the configured local time, recorded in the state file so that a restart
never posts twice on one day.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.conversation.decision import (
    daily_due_at,
)
from bot.conversation.texts import daily_text
from bot.drawing.artist import Drawing
from bot.platforms.errors import (
    AuthFailed,
    PlatformError,
    RateLimited,
    Rejected,
)
from bot.service.retry import fatal
from bot.state.records import Picture

log = logging.getLogger("bot.service")  # one logger name for the whole service


DAILY_RETRY = 600.0  # a daily post that failed is tried again this much later


@dataclass(frozen=True)
class DailyFailure:
    """Why a daily post was not made: one line for the log and python -m bot post, and the
    error (its kind decides the exit status)."""

    message: str
    error: Exception


class DailyPost:
    """One part of Service (bot.service.loop): the daily post, due, claimed, made or
    given up for the day."""

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
        return drawing, daily_text(drawing.what, favourite, vocabulary=self.artist.vocabulary)

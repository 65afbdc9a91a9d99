"""The four kinds of failure every platform adapter raises, each handled differently.

Adapters turn their library's exceptions into these: RateLimited (wait until the reset),
Transient (back off and retry), AuthFailed (stop with a message) and Rejected (this mention
cannot be answered; record it and move on).
"""

from __future__ import annotations

from datetime import datetime

from bot.platforms.base import Mention


class PlatformError(Exception):
    """Base of the four kinds. `mentions_read`: what a failed fetch had read before it failed
    (a 429 on page two of three): the service records them, but keeps its cursor."""

    mentions_read: list[Mention] = []  # noqa: RUF012 (set per instance, never mutated)


class RateLimited(PlatformError):
    def __init__(self, message: str, reset_at: datetime | None):
        super().__init__(message)
        self.reset_at = reset_at


class Transient(PlatformError):
    """5xx, timeouts, connection errors: retry with backoff."""


class AuthFailed(PlatformError):
    """401/403 on the account itself: retrying cannot help."""


class Rejected(PlatformError):
    """The platform refuses this one action (deleted status, 404, 422): do not retry."""

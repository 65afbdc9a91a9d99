"""The four kinds of failure every platform adapter raises, each handled differently.

Adapters turn their library's exceptions into these: RateLimited (wait until the reset),
Transient (back off and retry), AuthFailed (stop with a message) and Rejected (this mention
cannot be answered; record it and move on). A full disk where the bot writes is Transient too
(DiskFull): it passes once space is freed.
"""

from __future__ import annotations

import errno
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from bot.platforms.base import Mention


class PlatformError(Exception):
    """Base of the four kinds. `mentions_read`: what a failed fetch had read before it failed
    (a 429 on page two of three): the service records them, but keeps its cursor."""

    mentions_read: list[Mention] = []  # noqa: RUF012 (set per instance, never mutated)
    # False when the call certainly published nothing: it failed before the post itself was
    # asked for (an upload, a look at the processing). A daily post may then be tried again
    # the same day even where a post is not idempotent (X).
    may_have_posted: bool = True


class RateLimited(PlatformError):
    def __init__(self, message: str, reset_at: datetime | None):
        super().__init__(message)
        self.reset_at = reset_at


class Transient(PlatformError):
    """5xx, timeouts, connection errors, media still processing, a full disk: retry with
    backoff."""


class DiskFull(Transient):
    """No space left in a folder the bot writes (ENOSPC, a quota): nothing partial was left
    there, and a retry works once space is freed."""

    def __init__(self, folder: Path, exc: OSError):
        super().__init__(f"no space left in {folder} ({exc.strerror or exc}); free disk space "
                         "there")
        self.folder = folder


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC, or a quota reached (EDQUOT): both pass once space is freed."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


class AuthFailed(PlatformError):
    """401/403 on the account itself: retrying cannot help."""


class Rejected(PlatformError):
    """The platform refuses this one action (deleted status, 404, 422): do not retry."""


class ErrorKind(StrEnum):
    """What kind of failure an error is: the retry policy acts on this, and the four kinds a
    request can fail with while the bot goes on label bot_platform_errors_total."""

    TRANSIENT = "transient"  # 5xx, network, timeouts, media still processing, a full disk
    RATE_LIMITED = "rate_limited"  # a 429: wait for its reset
    REJECTED = "rejected"  # a permanent refusal of this post: the mention fails
    UNFORESEEN = "unforeseen"  # a bug, an answer nobody expected (the service's Unforeseen)
    AUTH_FAILED = "auth_failed"  # the account refused: the bot stops (never counted)


COUNTED = (ErrorKind.TRANSIENT, ErrorKind.RATE_LIMITED, ErrorKind.REJECTED,
           ErrorKind.UNFORESEEN)  # the labels of bot_platform_errors_total

"""X's HTTP underneath the adapter: sessions with timeouts, the rate-limit headers read, and
tweepy's and requests' errors translated into the platform errors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests
import tweepy
from requests.adapters import HTTPAdapter

from bot.platforms.errors import AuthFailed, PlatformError, RateLimited, Rejected, Transient

TWEEPY_HOSTS = ("https://api.twitter.com", "https://api.x.com")  # tweepy's own (4.x: the first)
NEEDS_READ_ACCESS = ("X answered 403: a bot that reads mentions needs pay-per-use or Basic (or "
                     "higher) access with read permission; the free tier cannot read mentions")
CHECK_AFTER = (1.0, 30.0)  # X's check_after_secs, bounded: neither a busy loop nor a long stall


class TimeoutAdapter(HTTPAdapter):
    """Gives every request sent without a timeout this (connect, read) timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = (timeout, timeout)

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: Any = None, **kwargs: Any) -> requests.Response:
        return super().send(request, stream=stream,
                            timeout=self.timeout if timeout is None else timeout, **kwargs)


def with_timeout(session: requests.Session, timeout: float) -> requests.Session:
    adapter = TimeoutAdapter(timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class XSession(requests.Session):
    """tweepy's session: its calls go to api_base instead of tweepy's own host. The URL is
    changed before the request is prepared, so the OAuth 1.0a signature covers the real one."""

    def __init__(self, api_base: str, timeout: float) -> None:
        super().__init__()
        self.api_base = api_base
        with_timeout(self, timeout)

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        if isinstance(url, str):
            for host in TWEEPY_HOSTS:
                if url.startswith(host + "/"):
                    url = self.api_base + url[len(host):]
                    break
        return super().request(method, url, *args, **kwargs)


def _int(headers: Any, name: str) -> int | None:
    try:
        return int(headers.get(name))
    except (TypeError, ValueError):
        return None


def reset_at(headers: Any) -> datetime | None:
    """When the window that answered 429 reopens. X has a 15-minute window (x-rate-limit-*) and
    24-hour caps per user and per app (x-user-limit-24hour-*, x-app-limit-24hour-*), each with
    its own reset. An exhausted window (remaining 0) is the cause: the latest such reset. With
    none reported exhausted but the 15-minute one known to have room, a later 24-hour reset whose
    remaining is not given. Otherwise the 15-minute reset."""
    (reset15, left15), *daily = [
        (_int(headers, f"{w}-reset"), _int(headers, f"{w}-remaining"))
        for w in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour")]
    exhausted = [r for r, left in [(reset15, left15), *daily] if r is not None and left == 0]
    later = [r for r, left in daily
             if r is not None and left is None and (reset15 is None or r > reset15)]
    if exhausted:
        reset: int | None = max(exhausted)
    elif later and (reset15 is None or (left15 is not None and left15 > 0)):
        reset = max(later)
    else:
        reset = reset15
    return None if reset is None else datetime.fromtimestamp(reset, UTC)


def _why(info: dict[str, Any], body: dict[str, Any]) -> str:
    """X's own words on a failed processing: processing_info.error, else the answer's errors."""
    error = info.get("error") or {}
    words = [str(error.get(k)) for k in ("name", "message") if error.get(k)]
    words += [str(e.get("detail") or e.get("title")) for e in body.get("errors") or []]
    return "; ".join(words) or "no reason given"


def processing_wait(media_id: str, body: dict[str, Any]) -> float | None:
    """None when X has processed the upload (no processing_info, or state succeeded), else
    the seconds until asking again (check_after_secs, bounded). Rejected when it failed: this
    GIF cannot be posted, and a retry would fail the same way."""
    info = body["data"].get("processing_info")
    state = info.get("state") if info else "succeeded"
    if state == "succeeded":
        return None
    if state == "failed":
        raise Rejected(f"X could not process media {media_id}: {_why(info, body)}")
    low, high = CHECK_AFTER
    return min(max(float(info.get("check_after_secs") or low), low), high)


def translate(exc: Exception, own_account: bool = False) -> PlatformError:
    """tweepy / requests exceptions -> the service's four kinds.

    own_account: a 403 on the account's own resources (mentions, get_me) means the app or its
    access level lacks the endpoint, which retrying cannot fix.
    """
    if own_account and isinstance(exc, tweepy.Forbidden):
        return AuthFailed(f"{NEEDS_READ_ACCESS} ({' '.join(str(exc).split())})")
    if isinstance(exc, tweepy.TooManyRequests):
        return RateLimited(f"X rate limit: {exc}", reset_at(exc.response.headers))
    if isinstance(exc, tweepy.Unauthorized):
        return AuthFailed(f"X answered 401: {exc}")
    if isinstance(exc, tweepy.TwitterServerError):
        return Transient(f"X server error: {exc}")
    if isinstance(exc, tweepy.HTTPException):  # 400, 403, 404: this request cannot succeed
        return Rejected(f"X refused: {exc}")
    if isinstance(exc, requests.RequestException | ValueError | KeyError | TypeError
                  | AttributeError):
        return Transient(f"network error or unexpected answer: {exc}")
    raise exc

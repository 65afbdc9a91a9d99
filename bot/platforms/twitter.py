"""X (Twitter) through tweepy's API v2 client, plus the v2 media upload tweepy lacks.

Mentions: GET /2/users/:id/mentions with since_id, the author expanded (username, bio), every
page followed. Replies: POST /2/media/upload (multipart, OAuth 1.0a user context from
requests-oauthlib), alt text with POST /2/media/metadata (docs.x.com; older pages call it
/2/media/metadata/create), then POST /2/tweets with
in_reply_to_tweet_id and media_ids. X has no idempotency key, so `idempotent_posts` is False
and the service looks for an earlier reply (GET /2/users/:id/tweets) before any retry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests
import tweepy
from requests_oauthlib import OAuth1Session

from bot.config import TwitterSettings
from bot.platforms.base import (
    AuthFailed,
    Me,
    Mention,
    PlatformError,
    Posted,
    RateLimited,
    Rejected,
    Transient,
)

TIMEOUT = 30


def _reset_at(headers: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(headers.get("x-rate-limit-reset")), UTC)
    except (TypeError, ValueError):
        return None


def translate(exc: Exception, own_account: bool = False) -> PlatformError:
    """tweepy / requests exceptions -> the service's four kinds.

    own_account: a 403 on the account's own resources (mentions, get_me) means the app or its
    access level lacks the endpoint, which retrying cannot fix.
    """
    if own_account and isinstance(exc, tweepy.Forbidden):
        return AuthFailed(f"X answered 403 (does the app's access level include this "
                          f"endpoint?): {exc}")
    if isinstance(exc, tweepy.TooManyRequests):
        return RateLimited(f"X rate limit: {exc}", _reset_at(exc.response.headers))
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


class TwitterPlatform:
    name = "twitter"
    idempotent_posts = False
    notes_count_against_limit = True  # X counts every POST /2/tweets, notes included
    look_before_reply = False  # X's read limits are tight: only after an interrupted attempt

    def __init__(self, settings: TwitterSettings):
        self.settings = settings
        self.media_limit = (settings.posts_per_day, 86400.0)
        s = settings
        self.client = tweepy.Client(
            bearer_token=s.bearer_token.get_secret_value() or None,
            consumer_key=s.consumer_key.get_secret_value(),
            consumer_secret=s.consumer_secret.get_secret_value(),
            access_token=s.access_token.get_secret_value(),
            access_token_secret=s.access_token_secret.get_secret_value(),
            wait_on_rate_limit=False,  # the service waits, interruptibly, and logs it
        )
        self.oauth = OAuth1Session(
            s.consumer_key.get_secret_value(), s.consumer_secret.get_secret_value(),
            s.access_token.get_secret_value(), s.access_token_secret.get_secret_value())
        self.api = s.api_base.rstrip("/")
        self.me: Me | None = None

    @property
    def finished(self) -> bool:
        return False

    def start(self) -> Me:
        try:
            user = self.client.get_me(user_auth=True).data
            self.me = Me(id=str(user.id), handle=user.username)
        except Exception as exc:
            raise translate(exc, own_account=True) from exc
        return self.me

    def stop(self) -> None:
        self.oauth.close()
        self.client.session.close()

    def settle(self, mention: Mention) -> None:
        pass

    # ------------------------------------------------------------ mentions

    def fetch_mentions(self, since_id: str | None, not_before: datetime | None
                       ) -> list[Mention]:
        assert self.me is not None, "start() first"
        params: dict[str, Any] = {
            "max_results": 100, "expansions": ["author_id"],
            "user_fields": ["username", "description"],
            "tweet_fields": ["created_at", "author_id"], "user_auth": True,
        }
        if since_id:
            params["since_id"] = since_id
        elif not_before is not None:
            params["start_time"] = not_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out: list[Mention] = []
        token = None
        try:
            while True:  # newest first, page by page back to since_id
                page = self.client.get_users_mentions(self.me.id, pagination_token=token,
                                                      **params)
                users = {str(u.id): u for u in (page.includes or {}).get("users", [])}
                for tweet in page.data or []:
                    out.append(self._mention(tweet, users.get(str(tweet.author_id))))
                token = (page.meta or {}).get("next_token")
                if not token:
                    break
        except Exception as exc:
            raise translate(exc, own_account=True) from exc
        return out

    @staticmethod
    def _mention(tweet: Any, user: Any) -> Mention:
        created = tweet.created_at or datetime.now(UTC)
        return Mention(
            id=str(tweet.id), author=user.username if user else str(tweet.author_id),
            author_id=str(tweet.author_id), author_is_bot=False,
            author_bio=(user.description or "") if user else "", text=tweet.text or "",
            is_html=False, visibility="public", created_at=created)

    # ------------------------------------------------------------ posting

    def _check(self, response: requests.Response) -> dict[str, Any]:
        if response.status_code == 429:
            raise RateLimited("X media rate limit", _reset_at(response.headers))
        if response.status_code == 401:
            raise AuthFailed("X answered 401 to the media upload")
        if response.status_code >= 500:
            raise Transient(f"X media upload: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise Rejected(f"X media upload: HTTP {response.status_code} {response.text[:200]}")
        try:
            return response.json()
        except ValueError as exc:
            raise Transient(f"X media upload: not JSON ({exc})") from exc

    def upload(self, png: bytes, alt_text: str) -> str:
        """POST /2/media/upload, then the alt text; returns the media id."""
        try:
            body = self._check(self.oauth.post(
                f"{self.api}/2/media/upload", files={"media": ("human.png", png, "image/png")},
                data={"media_category": "tweet_image", "media_type": "image/png"},
                timeout=TIMEOUT))
            media_id = str(body["data"]["id"])
            self._check(self.oauth.post(
                f"{self.api}/2/media/metadata",
                json={"id": media_id, "metadata": {"alt_text": {"text": alt_text[:1000]}}},
                timeout=TIMEOUT))
        except requests.RequestException as exc:
            raise Transient(f"X media upload: {exc}") from exc
        except (KeyError, TypeError) as exc:
            raise Transient(f"X media upload: unexpected answer ({exc})") from exc
        return media_id

    def _tweet(self, text: str, media_id: str | None, reply_to: str | None) -> Posted:
        try:
            response = self.client.create_tweet(
                text=text, media_ids=[media_id] if media_id else None,
                in_reply_to_tweet_id=reply_to, user_auth=True)
            return Posted(id=str(response.data["id"]))
        except Exception as exc:
            raise translate(exc) from exc

    def reply(self, mention: Mention, text: str, png: bytes, alt_text: str) -> Posted:
        return self._tweet(text, self.upload(png, alt_text), mention.id)

    def send_note(self, mention: Mention, text: str) -> Posted:
        return self._tweet(text, None, mention.id)

    def post(self, text: str, png: bytes, alt_text: str, key: str = "") -> Posted:
        return self._tweet(text, self.upload(png, alt_text), None)

    def find_reply(self, mention: Mention) -> Posted | None:
        assert self.me is not None, "start() first"
        try:
            page = self.client.get_users_tweets(
                self.me.id, since_id=mention.id, max_results=100,
                tweet_fields=["referenced_tweets"], user_auth=True)
        except Exception as exc:
            raise translate(exc) from exc
        for tweet in page.data or []:
            for ref in tweet.referenced_tweets or []:
                if ref.type == "replied_to" and str(ref.id) == mention.id:
                    return Posted(id=str(tweet.id))
        return None

"""X (Twitter) through tweepy's API v2 client, plus the v2 media upload tweepy lacks.

Mentions: GET /2/users/:id/mentions with since_id, the author expanded (username, bio), the
referenced tweets asked for (in_reply_to_id: the tweet a mention answers), every page followed.

Replies and posts carry one to four PNGs or one GIF (OAuth 1.0a user context from
requests-oauthlib for every media call):
- a PNG: one POST /2/media/upload (multipart, media_category tweet_image);
- a GIF: the chunked upload (docs.x.com, "Initialize / Append / Finalize Media upload", "Get
  Media upload status"): POST /2/media/upload/initialize (JSON: media_type, total_bytes,
  media_category tweet_gif), POST /2/media/upload/:id/append per segment (multipart: media,
  segment_index), POST /2/media/upload/:id/finalize;
then each one's alt text with POST /2/media/metadata (docs.x.com; older pages call it
/2/media/metadata/create: upload, then metadata, then the tweet). While a GIF's
processing_info says pending or in_progress, the service asks again from its loop after
check_after_secs (`processed`: GET /2/media/upload?command=STATUS&media_id=:id); nothing here
sleeps. Then one POST /2/tweets with in_reply_to_tweet_id and all media_ids. X's budget counts
tweets: a reply with four pictures is one of the day's posts, a note is one too.
X has no idempotency key, so `idempotent_posts` is False and the service looks for an earlier
reply (GET /2/users/:id/tweets) before any retry. delete: DELETE /2/tweets/:id. Reactions: none
(only Mastodon's favourites are counted).

Every call, tweepy's included, goes to settings.api_base with a connect and read timeout:
tweepy's Client names its own host and sends its requests with no timeout at all.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import requests
import tweepy
from requests_oauthlib import OAuth1Session

from bot.platforms.base import (
    Budget,
    Me,
    Media,
    Mention,
    Posted,
    Reaction,
    TextLimit,
    Uploaded,
)
from bot.platforms.errors import AuthFailed, PlatformError, RateLimited, Rejected, Transient
from bot.platforms.posting import attachable
from bot.platforms.twitter_http import (
    XSession,
    processing_wait,
    reset_at,
    translate,
    with_timeout,
)
from bot.settings import TwitterSettings

log = logging.getLogger(__name__)

MAX_MEDIA = 4  # X: up to four pictures, or one GIF, per tweet
SEGMENT_BYTES = 1024 * 1024  # X takes up to 5 MB per APPEND; a small segment keeps a retry cheap
# X gives a user's newest 3,200 tweets at most: 32 pages of 100 reach as far back as it can
FIND_REPLY_PAGES = 32


class TwitterPlatform:
    name = "twitter"
    idempotent_posts = False
    budget_counts: Budget = "posts"  # X counts every POST /2/tweets, notes included
    look_before_reply = False  # X's read limits are tight: only after an interrupted attempt
    text_limit = TextLimit(280, wide=2)  # X's weighted length: CJK and emoji count twice

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
        self.api = s.api_base.rstrip("/")
        self.client.session.close()
        self.client.session = XSession(self.api, s.request_timeout)
        self.oauth = with_timeout(OAuth1Session(
            s.consumer_key.get_secret_value(), s.consumer_secret.get_secret_value(),
            s.access_token.get_secret_value(), s.access_token_secret.get_secret_value()),
            s.request_timeout)
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
            "tweet_fields": ["created_at", "author_id", "referenced_tweets",
                             "in_reply_to_user_id"], "user_auth": True,
        }
        if since_id:
            params["since_id"] = since_id
        elif not_before is not None:
            params["start_time"] = not_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out: list[Mention] = []  # what a failure on a later page hands on as mentions_read
        users: dict[str, Any] = {}  # author id -> user (None: could not be looked up)
        token = None
        try:
            while True:  # newest first, page by page back to since_id
                page = self.client.get_users_mentions(self.me.id, pagination_token=token,
                                                      **params)
                users.update({str(u.id): u for u in (page.includes or {}).get("users", [])})
                for tweet in page.data or []:
                    user = self._author(str(tweet.author_id), users)
                    if user is None:
                        log.warning("mention %s skipped: its author %s could not be looked up",
                                    tweet.id, tweet.author_id)
                        continue
                    out.append(self._mention(tweet, user))
                token = (page.meta or {}).get("next_token")
                if not token:
                    break
        except PlatformError as exc:  # the author lookup was limited or failed in transit
            exc.mentions_read = out
            raise
        except Exception as exc:
            err = translate(exc, own_account=True)
            err.mentions_read = out
            raise err from exc
        return out

    def _author(self, author_id: str, users: dict[str, Any]) -> Any:
        """The mention's author: from the page's includes, else GET /2/users/:id (a reply must
        start with @username, never the numeric id). None when X has no such user to give (gone,
        suspended, refused); RateLimited or Transient when the lookup may work later."""
        if author_id not in users:
            try:
                answer = self.client.get_user(
                    id=author_id, user_fields=["username", "description"], user_auth=True)
            except Exception as exc:
                err = translate(exc)
                if isinstance(err, RateLimited | Transient):
                    raise err from exc
                users[author_id], why = None, str(err)
            else:  # a missing user is a 200 with errors and no data
                users[author_id] = answer.data
                why = "; ".join(str(e.get("detail") or e.get("title")) for e in answer.errors)
            if users[author_id] is None:
                log.warning("author %s could not be looked up: %s", author_id, why or "no data")
        return users[author_id]

    @staticmethod
    def _mention(tweet: Any, user: Any) -> Mention:
        created = tweet.created_at or datetime.now(UTC)
        # a tweet answers at most one other; a quote ("quoted") is no reply
        replied_to = next((str(ref.id) for ref in tweet.referenced_tweets or []
                           if ref.type == "replied_to"), "")
        return Mention(
            id=str(tweet.id), author=user.username, author_id=str(tweet.author_id),
            author_is_bot=False, author_bio=user.description or "", text=tweet.text or "",
            is_html=False, visibility="public", created_at=created, in_reply_to_id=replied_to,
            in_reply_to_account_id=str(tweet.in_reply_to_user_id or "") if replied_to else "")

    def take_reactions(self) -> list[Reaction]:
        return []  # X's likes are not counted: only Mastodon's favourites are

    # ------------------------------------------------------------ posting

    def _check(self, response: requests.Response, answer: bool = True) -> dict[str, Any]:
        """A media call's answer as JSON (answer=False: only its status, as APPEND has no
        body to read), or the error kind its status means."""
        if response.status_code == 429:
            raise RateLimited("X media rate limit", reset_at(response.headers))
        if response.status_code == 401:
            raise AuthFailed("X answered 401 to the media upload")
        if response.status_code >= 500:
            raise Transient(f"X media upload: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise Rejected(f"X media upload: HTTP {response.status_code} {response.text[:200]}")
        if not answer:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise Transient(f"X media upload: not JSON ({exc})") from exc

    def _media_call(self, fn: Any, *args: Any) -> Any:
        """A media call's network errors and unreadable answers as Transient."""
        try:
            return fn(*args)
        except requests.RequestException as exc:
            raise Transient(f"X media upload: {exc}") from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise Transient(f"X media upload: unexpected answer ({exc})") from exc

    def _upload_one(self, media: Media) -> tuple[str, float | None]:
        """Upload one picture (PNG in one request, GIF in chunks), then its alt text. Returns
        the media id and, while X is processing it, the seconds until asking again."""
        if media.is_gif:
            media_id, check_in = self._upload_gif(media.data)
        else:
            media_id, check_in = self._upload_png(media.data), None
        self._check(self.oauth.post(
            f"{self.api}/2/media/metadata",
            json={"id": media_id, "metadata": {"alt_text": {"text": media.alt_text[:1000]}}}))
        return media_id, check_in

    def _upload_png(self, png: bytes) -> str:
        """POST /2/media/upload: an image small enough for one request."""
        body = self._check(self.oauth.post(
            f"{self.api}/2/media/upload", files={"media": ("human.png", png, "image/png")},
            data={"media_category": "tweet_image", "media_type": "image/png"}))
        return str(body["data"]["id"])

    def _upload_gif(self, gif: bytes) -> tuple[str, float | None]:
        """The chunked upload: X takes an animated GIF only with media_category tweet_gif, and
        only through initialize / append / finalize, then processes it before it may be used."""
        body = self._check(self.oauth.post(
            f"{self.api}/2/media/upload/initialize",
            json={"media_type": "image/gif", "total_bytes": len(gif),
                  "media_category": "tweet_gif"}))
        media_id = str(body["data"]["id"])
        for index, start in enumerate(range(0, len(gif), SEGMENT_BYTES)):
            self._check(self.oauth.post(
                f"{self.api}/2/media/upload/{media_id}/append",
                files={"media": ("human.gif", gif[start:start + SEGMENT_BYTES],
                                 "application/octet-stream")},
                data={"segment_index": str(index)}), answer=False)
        body = self._check(self.oauth.post(f"{self.api}/2/media/upload/{media_id}/finalize"))
        return media_id, processing_wait(media_id, body)

    def upload(self, media: list[Media]) -> Uploaded:
        """Uploads each, in order. Checked before the first upload: X refuses a tweet with more
        than four pictures or a GIF beside anything, after the uploads were spent."""
        if not 1 <= len(media) <= MAX_MEDIA:
            raise ValueError(f"a tweet carries 1 to {MAX_MEDIA} pictures, not {len(media)}")
        if len(media) > 1 and any(m.is_gif for m in media):
            raise ValueError("a GIF goes alone in a tweet")
        if any(m.mime not in ("image/png", "image/gif") for m in media):
            raise ValueError(f"only PNG and GIF: {[m.mime for m in media]}")
        done = [self._media_call(self._upload_one, m) for m in media]
        waiting = [(media_id, after) for media_id, after in done if after is not None]
        return Uploaded(tuple(media_id for media_id, _ in done),
                        tuple(media_id for media_id, _ in waiting),
                        max((after for _, after in waiting), default=0.0))

    def _status(self, media_id: str) -> float | None:
        body = self._check(self.oauth.get(
            f"{self.api}/2/media/upload", params={"command": "STATUS", "media_id": media_id}))
        return processing_wait(media_id, body)

    def processed(self, uploaded: Uploaded) -> Uploaded:
        """GET /2/media/upload?command=STATUS for each one X is still processing. A media id
        used before it has succeeded is refused by POST /2/tweets."""
        answers = [(m, self._media_call(self._status, m)) for m in uploaded.waiting]
        waiting = [(media_id, after) for media_id, after in answers if after is not None]
        return uploaded.checked([media_id for media_id, _ in waiting],
                                max((after for _, after in waiting), default=0.0))

    def _tweet(self, text: str, media_ids: list[str], reply_to: str | None) -> Posted:
        try:
            response = self.client.create_tweet(
                text=text, media_ids=media_ids or None,
                in_reply_to_tweet_id=reply_to, user_auth=True)
            return Posted(id=str(response.data["id"]))
        except Exception as exc:
            raise translate(exc) from exc

    def reply(self, mention: Mention, text: str, uploaded: Uploaded) -> Posted:
        return self._tweet(text, list(uploaded.ids), mention.id)

    def send_note(self, mention: Mention, text: str) -> Posted:
        return self._tweet(text, [], mention.id)

    def post(self, text: str, media: list[Media], key: str = "") -> Posted:
        uploaded = attachable(self, media, "X media")
        return self._tweet(text, list(uploaded.ids), None)

    def delete(self, post_id: str) -> None:
        """DELETE /2/tweets/:id. A 404 means it is gone already, which is what was asked."""
        try:
            self.client.delete_tweet(post_id, user_auth=True)
        except tweepy.NotFound:
            log.info("tweet %s was gone already", post_id)
        except Exception as exc:
            raise translate(exc) from exc

    def find_reply(self, mention: Mention) -> Posted | None:
        """The bot's tweets since the mention, newest first, page by page back to it: a busy
        bot posts more than one page (100) between a mention and a retry of its reply."""
        assert self.me is not None, "start() first"
        token = None
        for _ in range(FIND_REPLY_PAGES):
            try:
                page = self.client.get_users_tweets(
                    self.me.id, since_id=mention.id, max_results=100, pagination_token=token,
                    tweet_fields=["referenced_tweets"], user_auth=True)
            except Exception as exc:
                raise translate(exc) from exc
            for tweet in page.data or []:
                for ref in tweet.referenced_tweets or []:
                    if ref.type == "replied_to" and str(ref.id) == mention.id:
                        return Posted(id=str(tweet.id))
            token = (page.meta or {}).get("next_token")
            if not token:
                return None
        log.warning("mention %s: none of my newest %d tweets answers it; X gives no older "
                    "ones", mention.id, FIND_REPLY_PAGES * 100)
        return None

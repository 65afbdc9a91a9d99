"""Mastodon through Mastodon.py.

Mentions are notifications of type mention, paged forward from the cursor (min_id) so that a
backlog bigger than one page is read in full; the cursor is the notification id. The same
requests ask for favourite and reblog notifications: those about the bot's own statuses become
Reactions, handed over once by take_reactions() after the fetch that read them (a fetch that
fails hands over none); reactions to anybody else's status are dropped. A mention carries the
status it replies to (in_reply_to_id), e.g. one of the bot's pictures.

A reply uploads each picture (one to four PNGs, or one GIF, which Mastodon turns into a gifv)
with its alt text as the media description; while the server processes one (202, no url
yet), the service asks again from its loop (`processed`, GET /api/v1/media/:id, at growing
intervals); then one status with all of them, with in_reply_to_id, the more private of the mention's
visibility and the bot's own, and an Idempotency-Key derived from the mention: a retry after a
lost answer cannot make a second reply (Mastodon keeps keys for an hour; after that the
service's own find_reply, through the status context, covers it). delete() removes one of the
bot's own statuses; one that is gone already is no error.

Notifications are asked for with include_filtered=true: since Mastodon 4.3 an account filters
private mentions from accounts it does not follow by default, and the bot follows nobody. Older
servers ignore the parameter; nothing here needs a 4.3-only endpoint.

Scopes: the token needs read (notifications of all three types included), write:statuses
(posting and deleting) and write:media. A 403 "outside the authorized scopes" is about the
token, not the status: it is AuthFailed naming the scope (the service stops). write:accounts
is only for flagging the account as a bot at start: without it, a warning.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from typing import Any

from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)
from mastodon.types_base import AttribAccessDict

from bot.platforms.base import (
    Budget,
    Me,
    Media,
    Mention,
    Posted,
    Reaction,
    TextLimit,
    Uploaded,
    more_private,
)
from bot.platforms.errors import AuthFailed, PlatformError, RateLimited, Rejected, Transient
from bot.platforms.posting import attachable
from bot.settings import MastodonSettings

log = logging.getLogger(__name__)

PAGE = 80  # Mastodon's largest page of notifications (twice the default 40)
# seconds between looks at media being processed: an image takes a second or two, a gifv
# longer on a busy server; doubling from the first to the last, then every last
PROCESSING_CHECKS = (1.0, 10.0)
MAX_PAGES = 25  # at most 2,000 notifications per poll; the rest come next poll
MAX_MEDIA = 4  # Mastodon's limit of attachments per status
NOTIFICATION_TYPES = ["mention", "favourite", "reblog"]
REACTION_TYPES = ("favourite", "reblog")
TOKEN_SCOPES = "read write:statuses write:media"  # what the bot needs (write:accounts optional)
# Mastodon's 403s about the token or the login, not about one status
SCOPE_ERROR = "outside the authorized scopes"
ACCOUNT_ERRORS = ("your login is",  # ...currently disabled, ...pending approval, ...missing a
                  "requires an authenticated user")  # confirmed e-mail; an app-only token


class MissingScope(AuthFailed):
    """The token lacks a scope: every call that needs it fails alike."""

    def __init__(self, scope: str):
        super().__init__(f"the token lacks the {scope} scope; create a token with "
                         f"{TOKEN_SCOPES}")
        self.scope = scope


def reply_key(mention_id: str) -> str:
    return f"human-image-bot-reply-{mention_id}"


class MastodonPlatform:
    name = "mastodon"
    idempotent_posts = True
    budget_counts: Budget = "media"  # the limit is on uploads: a text-only note costs none
    # one GET of the status context per reply; also covers a state file restored from a backup
    look_before_reply = True
    text_limit = TextLimit(500)  # a default server's max_characters

    def __init__(self, settings: MastodonSettings, client: Mastodon | None = None):
        self.settings = settings
        self.media_limit = (settings.media_per_30min, 1800.0)
        self.client = client or Mastodon(
            api_base_url=settings.base_url.rstrip("/"),
            access_token=settings.access_token.get_secret_value(),
            ratelimit_method="throw",  # the service waits, interruptibly, and logs it
            request_timeout=settings.request_timeout,
            version_check_mode="none",
            user_agent="human-image-bot",
        )
        self.me: Me | None = None
        self._reactions: list[Reaction] = []  # read by the last fetch, until taken
        # Mastodon.py's own request machinery: its error types, rate-limit headers and paging
        # (notifications() has no include_filtered parameter; grouped_notifications() does, but
        # is 4.3+ only)
        self._request = self.client._Mastodon__api_request

    @property
    def finished(self) -> bool:
        return False

    def _translate(self, exc: Exception, scope: str, own_account: bool = False
                   ) -> PlatformError:
        """scope: what the call needs, named when the token lacks it. own_account: any 403 on
        the account's own resources means the token lacks rights."""
        if isinstance(exc, MastodonAPIError) and _status(exc) in (403, 422):
            text = " ".join(str(a) for a in exc.args).lower()
            if _status(exc) == 403 and SCOPE_ERROR in text:
                return MissingScope(scope)
            if any(marker in text for marker in ACCOUNT_ERRORS):
                return AuthFailed(f"Mastodon refused the account: {_short(exc)}")
            if own_account and _status(exc) == 403:
                return AuthFailed(f"Mastodon answered 403 (does the token have the "
                                  f"{TOKEN_SCOPES} scopes?): {_short(exc)}")
        if isinstance(exc, MastodonRatelimitError):
            reset = getattr(self.client, "ratelimit_reset", None)
            reset_at = datetime.fromtimestamp(reset, UTC) if reset else None
            return RateLimited(f"Mastodon rate limit: {exc}", reset_at)
        if isinstance(exc, MastodonUnauthorizedError):
            return AuthFailed(f"Mastodon answered 401: {_short(exc)}")
        if isinstance(exc, MastodonNetworkError | MastodonServerError):
            return Transient(f"Mastodon unreachable or failing: {_short(exc)}")
        if isinstance(exc, MastodonNotFoundError):
            return Rejected(f"not found: {_short(exc)}")
        if isinstance(exc, MastodonAPIError):
            if _status(exc) == 422 and "processing" in str(exc.args[-1]).lower():
                # "Cannot attach files that have not finished processing": try again soon
                return Transient(f"media still processing: {_short(exc)}")
            if "parse" in str(exc).lower() or "json" in str(exc).lower():
                return Transient(f"Mastodon sent a malformed answer: {_short(exc)}")
            return Rejected(f"Mastodon refused: {_short(exc)}")
        if isinstance(exc, MastodonError | ValueError | KeyError | TypeError | AttributeError):
            return Transient(f"unexpected answer from Mastodon: {_short(exc)}")
        raise exc

    def _call(self, fn: Any, *args: Any, scope: str, own_account: bool = False,
              **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise self._translate(exc, scope, own_account) from exc

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Me:
        account = self._call(self.client.account_verify_credentials, scope="read:accounts",
                             own_account=True)
        self.me = Me(id=str(account["id"]), handle=account["acct"])
        if self.settings.flag_bot and not account.get("bot"):
            self._flag_bot()
        return self.me

    def _flag_bot(self) -> None:
        """Etiquette, not a need: a token without write:accounts (or a server that refuses)
        leaves the account unflagged, with a warning saying what to do."""
        try:
            self._call(self.client.account_update_credentials, bot=True,
                       scope="write:accounts")
        except (MissingScope, Rejected) as exc:
            assert self.me is not None
            log.warning("@%s is not flagged as a bot (%s); flag it by hand in the profile "
                        "settings (\"This is an automated account\") or give the token the "
                        "write:accounts scope", self.me.handle, exc)

    def stop(self) -> None:
        session = getattr(self.client, "session", None)
        if session is not None:
            session.close()

    def settle(self, mention: Mention) -> None:
        pass

    # ------------------------------------------------------------ mentions

    def fetch_mentions(self, since_id: str | None, not_before: datetime | None
                       ) -> list[Mention]:
        self._reactions = []  # a fetch that fails hands over nothing stale
        notes: list[Any] = []
        if since_id:
            cursor = since_id
            for _ in range(MAX_PAGES):  # forward from the cursor: min_id gives the next page
                page = self._notifications(min_id=cursor)
                if not page:
                    break
                notes += page
                cursor = str(max((n["id"] for n in page), key=_num))
        else:  # no cursor yet: back from the newest until the backlog window
            max_id = None
            for _ in range(MAX_PAGES):
                page = self._notifications(max_id=max_id)
                if not page:
                    break
                notes += page
                oldest = min(page, key=lambda n: _num(n["id"]))
                if not_before is not None and _aware(oldest["created_at"]) < not_before:
                    break
                max_id = str(oldest["id"])
        seen: set[str] = set()
        out = []
        reactions = []
        for n in notes:
            status = n.get("status")
            if not status or str(n["id"]) in seen:
                continue
            if n.get("type") == "mention":
                out.append(self._mention(n, status))
            elif n.get("type") in REACTION_TYPES and self._is_mine(status):
                reactions.append(self._reaction(n, status))
            else:
                continue
            seen.add(str(n["id"]))
        self._reactions = reactions
        return out

    def take_reactions(self) -> list[Reaction]:
        """The favourites and boosts of the bot's statuses that the last fetch read, once."""
        reactions, self._reactions = self._reactions, []
        return reactions

    def _is_mine(self, status: Any) -> bool:
        account = status.get("account") or {}
        return self.me is not None and str(account.get("id")) == self.me.id

    def _notifications(self, **ids: str | None) -> Any:
        """One page of GET /api/v1/notifications: mentions, favourites and boosts, the
        filtered ones included, as Mastodon.py's notifications() would ask with
        include_filtered (servers before 4.3 ignore it)."""
        params: dict[str, Any] = {"types[]": NOTIFICATION_TYPES, "limit": PAGE,
                                  "include_filtered": "true"}
        params.update({k: v for k, v in ids.items() if v is not None})
        # override_type: the answer as plain dicts. The typed cast of notifications() turns an
        # error's {"error": ...} into a list and loses Mastodon's text ("outside the authorized
        # scopes"); _mention reads plain dicts and ISO times alike.
        return self._call(self._request, "GET", "/api/v1/notifications", params,
                          override_type=AttribAccessDict,
                          scope="read:notifications", own_account=True)

    @staticmethod
    def _mention(note: Any, status: Any) -> Mention:
        account = status.get("account") or note["account"]
        return Mention(
            id=str(status["id"]), cursor=str(note["id"]), author=account["acct"],
            author_id=str(account["id"]), author_is_bot=bool(account.get("bot")),
            author_bio=account.get("note") or "", text=status.get("content") or "",
            is_html=True, visibility=status.get("visibility") or "public",
            created_at=_aware(status.get("created_at") or note.get("created_at")),
            in_reply_to_id=str(status.get("in_reply_to_id") or ""),
            in_reply_to_account_id=str(status.get("in_reply_to_account_id") or ""))

    @staticmethod
    def _reaction(note: Any, status: Any) -> Reaction:
        return Reaction(id=str(note["id"]), kind=note["type"], post_id=str(status["id"]),
                        account_id=str((note.get("account") or {}).get("id") or ""),
                        cursor=str(note["id"]))

    # ------------------------------------------------------------ posting

    def _upload(self, item: Media) -> Any:
        """POST /api/v2/media: 200 with a url when processed, 202 without one while not yet.

        Not Mastodon.py's synchronous=True, whose loop sleeps uninterruptibly and turns every
        error (a 503, a 429, a 401) into "could not be processed": the service asks again
        from its loop instead (`processed`).
        """
        return self._call(self.client.media_post, io.BytesIO(item.data), mime_type=item.mime,
                          description=item.alt_text[:1500],
                          file_name="human.gif" if item.is_gif else "human.png",
                          scope="write:media")

    def upload(self, media: list[Media]) -> Uploaded:
        """Checked before anything is uploaded (every upload counts against the limit)."""
        if not 1 <= len(media) <= MAX_MEDIA:
            raise ValueError(f"a status takes 1 to {MAX_MEDIA} attachments, not {len(media)}")
        if len(media) > 1 and any(m.is_gif for m in media):
            raise ValueError("a GIF goes alone: Mastodon mixes no gifv with pictures")
        answers = [self._upload(m) for m in media]
        ids = tuple(str(a["id"]) for a in answers)
        waiting = tuple(str(a["id"]) for a in answers if not a.get("url"))
        return Uploaded(ids, waiting, PROCESSING_CHECKS[0] if waiting else 0.0)

    def processed(self, uploaded: Uploaded) -> Uploaded:
        """GET /api/v1/media/:id for each one still without a url (206 while processing)."""
        waiting = [media_id for media_id in uploaded.waiting
                   if not self._call(self.client.media, media_id,
                                     scope="write:media").get("url")]
        first, last = PROCESSING_CHECKS
        return uploaded.checked(waiting, min(last, first * 2 ** (uploaded.checks + 1)))

    def reply(self, mention: Mention, text: str, uploaded: Uploaded) -> Posted:
        status = self._call(
            self.client.status_post, text, in_reply_to_id=mention.id,
            media_ids=list(uploaded.ids),
            visibility=more_private(mention.visibility, self.settings.visibility),
            idempotency_key=reply_key(mention.id), scope="write:statuses")
        return Posted(id=str(status["id"]), url=status.get("url") or "")

    def send_note(self, mention: Mention, text: str) -> Posted:
        status = self._call(
            self.client.status_post, text, in_reply_to_id=mention.id,
            visibility=more_private(mention.visibility, self.settings.visibility),
            idempotency_key=f"human-image-bot-note-{mention.id}", scope="write:statuses")
        return Posted(id=str(status["id"]), url=status.get("url") or "")

    def post(self, text: str, media: list[Media], key: str = "") -> Posted:
        uploaded = attachable(self, media, "media")
        status = self._call(self.client.status_post, text, media_ids=list(uploaded.ids),
                            visibility=self.settings.visibility,
                            idempotency_key=f"human-image-bot-{key}" if key else None,
                            scope="write:statuses")
        return Posted(id=str(status["id"]), url=status.get("url") or "")

    def delete(self, post_id: str) -> None:
        """Delete one of the bot's own statuses; one that is gone already (404) is done."""
        try:
            self._call(self.client.status_delete, post_id, scope="write:statuses")
        except Rejected as exc:
            if isinstance(exc.__cause__, MastodonNotFoundError):
                log.info("status %s is gone already", post_id)
                return
            raise

    def find_reply(self, mention: Mention) -> Posted | None:
        assert self.me is not None, "start() first"
        context = self._call(self.client.status_context, mention.id, scope="read:statuses")
        for status in context.get("descendants") or []:
            if (str(status["account"]["id"]) == self.me.id
                    and str(status.get("in_reply_to_id")) == mention.id):
                return Posted(id=str(status["id"]), url=status.get("url") or "")
        return None


def _num(value: Any) -> int:
    text = str(value)
    return int(text) if text.isdigit() else 0


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return datetime.now(UTC)


def _status(exc: Exception) -> int | None:
    """The HTTP status of a MastodonAPIError (its second argument), if any."""
    return exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]

"""The X adapter against recorded X API answers (tweepy's cassettes), served by `responses`,
and against a real loopback server that never answers (the timeouts).

Every call goes to settings.api_base (https://api.x.com by default): tweepy 4.17's Client names
its own host (https://api.twitter.com), and the adapter's session sends its calls to api_base
instead. Variations (429, 5xx, 401, paging, expanded authors, broken JSON) keep the recorded
shape and headers, with values changed.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1.rfc5849 import signature, utils
from pydantic import SecretStr
from responses import matchers

from bot.platforms.base import Me, Media, Mention, Posted
from bot.platforms.errors import AuthFailed, PlatformError, RateLimited, Rejected, Transient
from bot.platforms.twitter import TwitterPlatform
from bot.platforms.twitter_http import CHECK_AFTER
from bot.settings import TwitterSettings
from tests.fixtures_http import (
    ME_ID,
    TWEEPY,
    TWEET,
    add,
    file_parts,
    form_fields,
    header,
    load,
    mentions_template,
    recorded,
    require_fixtures,
    v2_upload_answer,
)
from tests.helpers import reply_through

require_fixtures()

MEDIA = "https://api.x.com"  # TwitterSettings.api_base
MENTIONS_URL = f"{TWEEPY}/2/users/{ME_ID}/mentions"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
ALT = "A small generated picture of a person in a red shirt."
PICTURE = [Media(PNG, "image/png", ALT)]  # what reply and post are given: one PNG


def settings(**kw: Any) -> TwitterSettings:
    keys = {"consumer_key": "ck", "consumer_secret": "cs", "access_token": "at",
            "access_token_secret": "ats"}
    return TwitterSettings(**{k: SecretStr(v) for k, v in keys.items()}, **kw)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def waits() -> list[float]:
    """The seconds the adapter asked the service to wait before each STATUS look, in order
    (the service waits them from its loop; the adapter never sleeps)."""
    return []


@pytest.fixture
def platform(rsps: responses.RequestsMock) -> TwitterPlatform:
    """A started adapter; the get_me call is cleared from rsps.calls."""
    add(rsps, "GET", f"{TWEEPY}/2/users/me", recorded("x-api/get_me.json", "GET", "/2/users/me"))
    p = TwitterPlatform(settings())
    p.start()
    rsps.calls.reset()
    return p


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def mention_pages() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Two pages built from the recorded mentions: the recorded first page (with its
    meta.next_token) and a last page without one; tweets carry author_id and created_at and
    the authors come expanded in includes.users (username, description)."""
    recorded_page = mentions_template()
    tweets = recorded_page["body"]["data"]
    users = [{"id": str(1000 + i), "name": f"User {i}", "username": f"user{i}",
              "description": f"bio of user {i}"} for i in range(3)]
    base = datetime(2022, 10, 8, 0, 0, tzinfo=UTC)
    for i, tweet in enumerate(tweets):
        tweet["author_id"] = users[i % 3]["id"]
        tweet["created_at"] = (base - timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    first = dict(recorded_page, body={**recorded_page["body"], "includes": {"users": users}})
    older = []
    for i, tweet in enumerate(tweets[:3]):
        new_id = str(int(tweets[-1]["id"]) - 1000 - i)
        older.append({**tweet, "id": new_id, "edit_history_tweet_ids": [new_id],
                      "author_id": users[2 - i]["id"],
                      "created_at": (base - timedelta(minutes=5 + i)).strftime(
                          "%Y-%m-%dT%H:%M:%S.000Z")})
    second_meta = {"result_count": len(older), "newest_id": older[0]["id"],
                   "oldest_id": older[-1]["id"]}
    second = dict(recorded_page, body={"data": older, "includes": {"users": users},
                                       "meta": second_meta})
    return first, second, users


def a_mention(mention_id: str = "1578516295611748353", visibility: str = "public") -> Mention:
    return Mention(id=mention_id, author="user0", author_id="1000", author_is_bot=False,
                   author_bio="", text="@TweepyDev create a human image", is_html=False,
                   visibility=visibility, created_at=datetime(2022, 10, 8, tzinfo=UTC))


MEDIA_ID = recorded("x-api/mediauploadpng.json", "POST", "/media/upload")["body"][
    "media_id_string"]


def x_error(status: int, title: str) -> dict[str, Any]:
    """X's problem-details error body."""
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


# ---------------------------------------------------------------- start


def test_start_reads_me_from_get_me(rsps: responses.RequestsMock) -> None:
    add(rsps, "GET", f"{TWEEPY}/2/users/me", recorded("x-api/get_me.json", "GET", "/2/users/me"))
    p = TwitterPlatform(settings())
    assert p.start() == Me(id="1072250532645998596", handle="TweepyDev")
    assert p.me == Me(id="1072250532645998596", handle="TweepyDev")
    assert header(rsps.calls[0].request, "Authorization").startswith("OAuth ")


# ---------------------------------------------------------------- mentions


def test_mentions_follow_every_page_and_resolve_authors(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    first, second, users = mention_pages()
    add(rsps, "GET", MENTIONS_URL, first)
    add(rsps, "GET", MENTIONS_URL, second)
    since = "1578516000000000000"
    got = platform.fetch_mentions(since, datetime(2022, 10, 1, tzinfo=UTC))

    assert len(rsps.calls) == 2
    q1, q2 = query(rsps.calls[0]), query(rsps.calls[1])
    assert q1["since_id"] == [since] and "pagination_token" not in q1
    assert "start_time" not in q1
    assert q2["since_id"] == [since]
    assert q2["pagination_token"] == [first["body"]["meta"]["next_token"]]
    assert set(q1["expansions"][0].split(",")) == {"author_id"}
    assert {"username", "description"} <= set(q1["user.fields"][0].split(","))
    assert {"created_at", "author_id", "referenced_tweets"} <= set(
        q1["tweet.fields"][0].split(","))
    assert header(rsps.calls[0].request, "Authorization").startswith("OAuth ")

    tweets = first["body"]["data"] + second["body"]["data"]
    assert [m.id for m in got] == [t["id"] for t in tweets]
    by_id = {u["id"]: u for u in users}
    for m, t in zip(got, tweets, strict=True):
        user = by_id[t["author_id"]]
        assert m.author == user["username"] and m.author_id == t["author_id"]
        assert m.author_bio == user["description"]
        assert m.text == t["text"]
        assert m.visibility == "public" and m.is_html is False and m.author_is_bot is False
        assert m.created_at == datetime.fromisoformat(t["created_at"].replace("Z", "+00:00"))
        assert m.position == m.id


def test_mentions_without_cursor_send_start_time(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    _, last, _ = mention_pages()
    add(rsps, "GET", MENTIONS_URL, last)
    tokyo = timezone(timedelta(hours=9))
    got = platform.fetch_mentions(None, datetime(2022, 10, 8, 9, 30, 15, tzinfo=tokyo))
    assert len(got) == 3 and len(rsps.calls) == 1
    q = query(rsps.calls[0])
    assert q["start_time"] == ["2022-10-08T00:30:15Z"]  # RFC 3339, UTC, Z
    assert "since_id" not in q and "pagination_token" not in q


def page_by(author_ids: list[str]) -> dict[str, Any]:
    """One mentions page whose tweets are by these authors; only user 1000 comes expanded."""
    page = mentions_template()
    tweets = [{**t, "author_id": a} for t, a in zip(page["body"]["data"], author_ids,
                                                     strict=False)]
    included = [{"id": "1000", "name": "User 0", "username": "user0", "description": "hi"}]
    page["body"] = {"data": tweets, "includes": {"users": included},
                    "meta": {"result_count": len(tweets)}}
    return page


USER_42 = f"{TWEEPY}/2/users/42"  # GET /2/users/:id, answered in the recorded get_me shape
ME_TEMPLATE = recorded("x-api/get_me.json", "GET", "/2/users/me")


def test_author_missing_from_includes_is_looked_up_once(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    page = page_by(["42", "1000", "42"])
    add(rsps, "GET", MENTIONS_URL, page)
    add(rsps, "GET", USER_42, ME_TEMPLATE, body={"data": {
        "id": "42", "name": "Forty Two", "username": "fortytwo", "description": "#nobot"}})
    got = platform.fetch_mentions("1", None)
    assert [m.id for m in got] == [t["id"] for t in page["body"]["data"]]
    assert [m.author for m in got] == ["fortytwo", "user0", "fortytwo"]
    assert got[0].author_id == "42" and got[0].author_bio == "#nobot"
    lookups = [c for c in rsps.calls if c.request.url.startswith(USER_42)]
    assert len(lookups) == 1  # one lookup per author and fetch
    assert {"username", "description"} <= set(query(lookups[0])["user.fields"][0].split(","))
    assert header(lookups[0].request, "Authorization").startswith("OAuth ")


@pytest.mark.parametrize(("status", "body"), [
    (200, {"errors": [{"value": "42", "detail": "Could not find user with id: [42].",
                       "title": "Not Found Error", "resource_type": "user", "parameter": "id",
                       "resource_id": "42",
                       "type": "https://api.twitter.com/2/problems/resource-not-found"}]}),
    (404, x_error(404, "Not Found")),
    (403, x_error(403, "Forbidden")),
])
def test_author_that_cannot_be_looked_up_is_skipped_with_a_log_line(
        rsps: responses.RequestsMock, platform: TwitterPlatform,
        caplog: pytest.LogCaptureFixture, status: int, body: dict[str, Any]) -> None:
    page = page_by(["42", "1000"])
    add(rsps, "GET", MENTIONS_URL, page)
    add(rsps, "GET", USER_42, ME_TEMPLATE, status=status, body=body)
    with caplog.at_level(logging.WARNING, logger="bot.platforms.twitter"):
        got = platform.fetch_mentions("1", None)
    skipped, kept = page["body"]["data"]
    assert [m.id for m in got] == [kept["id"]]  # never a reply to "@42"
    assert f"mention {skipped['id']} skipped" in caplog.text
    assert "author 42 could not be looked up" in caplog.text


@pytest.mark.parametrize(("status", "kind"), [(429, RateLimited), (503, Transient)])
def test_author_lookup_that_may_work_later_fails_the_fetch_keeping_what_was_read(
        rsps: responses.RequestsMock, platform: TwitterPlatform, status: int,
        kind: type[PlatformError]) -> None:
    page = page_by(["1000", "42"])
    add(rsps, "GET", MENTIONS_URL, page)
    add(rsps, "GET", USER_42, ME_TEMPLATE, status=status, body=x_error(status, "error"))
    with pytest.raises(kind) as info:
        platform.fetch_mentions("1", None)
    assert [m.id for m in info.value.mentions_read] == [page["body"]["data"][0]["id"]]


def test_no_new_mentions_is_an_empty_list(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    add(rsps, "GET", MENTIONS_URL, mentions_template(), body={"meta": {"result_count": 0}})
    assert platform.fetch_mentions("1578516295611748353", None) == []


def test_mention_that_answers_a_tweet_carries_that_tweet_id(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    page = page_by(["1000", "1000", "1000"])
    replying, quoting, plain = page["body"]["data"]
    parent, quoted = "1578516000000000001", "1578516000000000002"
    # X lists every reference; the quote comes first here, the reply is what counts
    replying["referenced_tweets"] = [{"type": "quoted", "id": quoted},
                                     {"type": "replied_to", "id": parent}]
    quoting["referenced_tweets"] = [{"type": "quoted", "id": quoted}]
    replying["in_reply_to_user_id"] = "1578516000000000003"  # whose tweet it answers
    add(rsps, "GET", MENTIONS_URL, page)
    got = {m.id: m for m in platform.fetch_mentions("1", None)}
    assert got[replying["id"]].in_reply_to_id == parent
    assert got[replying["id"]].in_reply_to_account_id == "1578516000000000003"
    assert got[quoting["id"]].in_reply_to_id == ""  # a quote is no reply
    assert got[plain["id"]].in_reply_to_id == "" == got[plain["id"]].in_reply_to_account_id
    fields = query(rsps.calls[0])["tweet.fields"][0].split(",")
    assert {"referenced_tweets", "in_reply_to_user_id"} <= set(fields)


def test_take_reactions_is_empty_on_x(platform: TwitterPlatform) -> None:
    assert platform.take_reactions() == []


# ---------------------------------------------------------------- reply


def register_reply(rsps: responses.RequestsMock) -> None:
    upload = v2_upload_answer()
    add(rsps, "POST", f"{MEDIA}/2/media/upload", upload)
    add(rsps, "POST", f"{MEDIA}/2/media/metadata", upload,
        body={"data": {"id": MEDIA_ID, "associated_metadata": {"alt_text": {"text": ALT}}}})
    add(rsps, "POST", f"{TWEEPY}/2/tweets", TWEET)


def test_reply_uploads_sets_alt_text_and_replies_with_the_media(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    register_reply(rsps)
    mention = a_mention()
    posted = reply_through(platform, mention, "@user0 here is your human", PICTURE)
    assert posted == Posted(id=TWEET["body"]["data"]["id"])

    assert [c.request.url for c in rsps.calls] == [
        f"{MEDIA}/2/media/upload", f"{MEDIA}/2/media/metadata", f"{TWEEPY}/2/tweets"]
    upload, meta, tweet = (c.request for c in rsps.calls)

    assert upload.method == "POST"
    assert header(upload, "Content-Type").startswith("multipart/form-data")
    assert form_fields(upload)["media_category"] == ["tweet_image"]
    name, content_type, data = file_parts(upload)["media"]
    assert data == PNG and content_type == "image/png" and name == "human.png"
    auth = header(upload, "Authorization")
    assert auth.startswith("OAuth ")
    assert 'oauth_consumer_key="ck"' in auth and 'oauth_token="at"' in auth
    assert 'oauth_signature_method="HMAC-SHA1"' in auth and "oauth_signature=" in auth

    assert header(meta, "Authorization").startswith("OAuth ")
    assert json.loads(meta.body) == {"id": MEDIA_ID, "metadata": {"alt_text": {"text": ALT}}}

    body = json.loads(tweet.body)
    assert body["reply"]["in_reply_to_tweet_id"] == mention.id
    assert body["media"]["media_ids"] == [MEDIA_ID]
    assert body["text"] == "@user0 here is your human"
    assert header(tweet, "Authorization").startswith("OAuth ")


def test_alt_text_is_cut_to_x_limit(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    register_reply(rsps)
    reply_through(platform, a_mention(), "hi", [Media(PNG, "image/png", "x" * 1500)])
    sent = json.loads(rsps.calls[1].request.body)["metadata"]["alt_text"]["text"]
    assert sent == "x" * 1000


def test_send_note_is_a_text_only_reply(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    add(rsps, "POST", f"{TWEEPY}/2/tweets", TWEET)
    posted = platform.send_note(a_mention(), "Please wait a while.")
    assert posted.id == TWEET["body"]["data"]["id"]
    body = json.loads(rsps.calls[0].request.body)
    assert body["reply"]["in_reply_to_tweet_id"] == a_mention().id and "media" not in body


def test_post_has_media_and_no_reply(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    register_reply(rsps)
    platform.post("Today's human.", PICTURE, key="daily-2022-10-08")
    body = json.loads(rsps.calls[2].request.body)
    assert body["media"]["media_ids"] == [MEDIA_ID] and "reply" not in body


def png_answer(media_id: str) -> dict[str, Any]:
    upload = v2_upload_answer()
    upload["body"]["data"].update(id=media_id, media_key=f"3_{media_id}")
    return upload


def test_four_pictures_are_uploaded_described_and_posted_in_one_tweet(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    ids = [str(int(MEDIA_ID) + i) for i in (7, 3, 9, 1)]  # not in upload order by value
    pictures = [Media(PNG + bytes([i]) * (i + 1), "image/png", f"{ALT} ({i})")
                for i in range(4)]
    for media_id in ids:
        add(rsps, "POST", f"{MEDIA}/2/media/upload", png_answer(media_id))
    add(rsps, "POST", f"{MEDIA}/2/media/metadata", v2_upload_answer(), body={"data": {}})
    add(rsps, "POST", f"{TWEEPY}/2/tweets", TWEET)
    mention = a_mention()
    reply_through(platform, mention, "@user0 four humans", pictures)

    paths = [urlsplit(c.request.url).path for c in rsps.calls]
    assert paths == ["/2/media/upload", "/2/media/metadata"] * 4 + ["/2/tweets"]
    uploads = [c.request for c in rsps.calls if c.request.url == f"{MEDIA}/2/media/upload"]
    assert [file_parts(u)["media"][2] for u in uploads] == [p.data for p in pictures]
    assert all(form_fields(u)["media_category"] == ["tweet_image"] for u in uploads)
    metas = [json.loads(c.request.body) for c in rsps.calls
             if c.request.url == f"{MEDIA}/2/media/metadata"]
    assert metas == [{"id": i, "metadata": {"alt_text": {"text": p.alt_text}}}
                     for i, p in zip(ids, pictures, strict=True)]
    [tweet] = [json.loads(c.request.body) for c in rsps.calls
               if c.request.url == f"{TWEEPY}/2/tweets"]
    assert tweet["media"]["media_ids"] == ids
    assert tweet["reply"]["in_reply_to_tweet_id"] == mention.id


@pytest.mark.parametrize("media", [
    [],
    [Media(PNG, "image/png", ALT)] * 5,
    [Media(b"GIF89a", "image/gif", ALT), Media(PNG, "image/png", ALT)],
    [Media(b"\xff\xd8\xff", "image/jpeg", ALT)],
], ids=["none", "five", "gif_and_png", "jpeg"])
def test_media_x_cannot_take_is_a_programming_error_before_any_upload(
        rsps: responses.RequestsMock, platform: TwitterPlatform, media: list[Media]) -> None:
    with pytest.raises(ValueError):
        platform.upload(media)
    with pytest.raises(ValueError):
        platform.post("hi", media)
    assert len(rsps.calls) == 0


# ---------------------------------------------------------------- GIF (chunked upload)


UPLOAD = f"{MEDIA}/2/media/upload"
GIF_ID = "1880028106020515840"  # the id in X's chunked-upload guide
MIB = 1024 * 1024  # the segment size asked for: at most 1 MiB per APPEND
# a patterned GIF just over 1 MiB: two segments, and a reordered or lost byte shows
GIF = b"GIF89a" + bytes(range(251)) * (MIB // 251 + 20)
STATUS = matchers.query_param_matcher({"command": "STATUS", "media_id": GIF_ID})


def gif_answer(processing: dict[str, Any] | None = None) -> dict[str, Any]:
    """initialize / finalize / STATUS answer ({data: {id, media_key, ...}}), in the recorded
    upload's status and headers."""
    upload = v2_upload_answer()
    data: dict[str, Any] = {"id": GIF_ID, "media_key": f"16_{GIF_ID}", "size": len(GIF),
                            "expires_after_secs": 86399}
    if processing is not None:
        data["processing_info"] = processing
    return dict(upload, body={"data": data})


def register_gif(rsps: responses.RequestsMock, finalized: dict[str, Any] | None,
                 statuses: list[dict[str, Any]]) -> None:
    """The chunked upload and its alt text, then X's word on processing (each STATUS)."""
    add(rsps, "POST", f"{UPLOAD}/initialize", gif_answer())
    add(rsps, "POST", f"{UPLOAD}/{GIF_ID}/append", v2_upload_answer(), body="")
    add(rsps, "POST", f"{UPLOAD}/{GIF_ID}/finalize", gif_answer(finalized))
    add(rsps, "POST", f"{MEDIA}/2/media/metadata", v2_upload_answer(),
        body={"data": {"id": GIF_ID, "associated_metadata": {"alt_text": {"text": ALT}}}})
    for info in statuses:
        add(rsps, "GET", UPLOAD, gif_answer(info), match=(STATUS,))


def register_gif_tweet(rsps: responses.RequestsMock) -> None:
    add(rsps, "POST", f"{TWEEPY}/2/tweets", TWEET)


def sent(rsps: responses.RequestsMock) -> list[tuple[str, str]]:
    return [(c.request.method, urlsplit(c.request.url).path) for c in rsps.calls]


def test_gif_reply_is_uploaded_in_segments_processed_and_posted(
        rsps: responses.RequestsMock, platform: TwitterPlatform, waits: list[float]) -> None:
    register_gif(rsps, {"state": "pending", "check_after_secs": 3},
                 [{"state": "in_progress", "check_after_secs": 5, "progress_percent": 40},
                  {"state": "succeeded", "progress_percent": 100}])
    register_gif_tweet(rsps)
    mention = a_mention()
    reply_through(platform, mention, "@user0 here is your human",
                  [Media(GIF, "image/gif", ALT)], waits)

    segments = -(-len(GIF) // MIB)
    assert segments == 2
    media = f"/2/media/upload/{GIF_ID}"
    assert sent(rsps) == [  # upload, then metadata, then the tweet (docs.x.com's order)
        ("POST", "/2/media/upload/initialize"), *[("POST", f"{media}/append")] * segments,
        ("POST", f"{media}/finalize"), ("POST", "/2/media/metadata"),
        ("GET", "/2/media/upload"), ("GET", "/2/media/upload"), ("POST", "/2/tweets")]
    requests_sent = [c.request for c in rsps.calls]

    init = requests_sent[0]
    assert header(init, "Content-Type").startswith("application/json")
    assert json.loads(init.body) == {"media_type": "image/gif", "total_bytes": len(GIF),
                                     "media_category": "tweet_gif"}
    appends = requests_sent[1:1 + segments]
    assert [form_fields(a)["segment_index"] for a in appends] == [
        [str(i)] for i in range(segments)]
    chunks = [file_parts(a)["media"][2] for a in appends]
    assert b"".join(chunks) == GIF and all(len(c) <= MIB for c in chunks)
    assert all(header(a, "Content-Type").startswith("multipart/form-data") for a in appends)
    polls = [c for c in rsps.calls if c.request.method == "GET"]
    assert [query(c) for c in polls] == [{"command": ["STATUS"], "media_id": [GIF_ID]}] * 2
    assert waits == [3.0, 5.0]  # each check_after_secs, before the STATUS it announces

    meta = json.loads(requests_sent[1 + segments + 1].body)
    assert meta == {"id": GIF_ID, "metadata": {"alt_text": {"text": ALT}}}
    tweet = json.loads(requests_sent[-1].body)
    assert tweet["media"]["media_ids"] == [GIF_ID]
    assert tweet["reply"]["in_reply_to_tweet_id"] == mention.id
    for r in requests_sent:  # the upload's own calls: signed for their URL, timed out
        if urlsplit(r.url).path not in ("/2/media/metadata", "/2/tweets"):
            assert signed_for(r, r.url), r.url
    timeout = platform.settings.request_timeout
    assert [c.request.req_kwargs["timeout"] for c in rsps.calls] == [
        (timeout, timeout)] * len(rsps.calls)


def test_gif_without_processing_info_is_posted_at_once(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    register_gif(rsps, None, [])
    register_gif_tweet(rsps)
    platform.post("Today's human.", [Media(GIF, "image/gif", ALT)], key="daily-2022-10-08")
    assert ("GET", "/2/media/upload") not in sent(rsps)
    tweet = json.loads(rsps.calls[-1].request.body)
    assert tweet["media"]["media_ids"] == [GIF_ID] and "reply" not in tweet


def test_gif_processing_failed_is_rejected_and_nothing_is_posted(
        rsps: responses.RequestsMock, platform: TwitterPlatform, waits: list[float]) -> None:
    register_gif(rsps, {"state": "pending", "check_after_secs": 2},
                 [{"state": "failed", "progress_percent": 12,
                   "error": {"code": 1, "name": "InvalidMedia",
                             "message": "Unsupported animated GIF"}}])
    with pytest.raises(Rejected) as info:
        reply_through(platform, a_mention(), "hi", [Media(GIF, "image/gif", ALT)], waits)
    assert "Unsupported animated GIF" in str(info.value)  # X's own words, for the record
    assert sent(rsps)[-1] == ("GET", "/2/media/upload")  # no tweet
    assert waits == [2.0]


@pytest.mark.parametrize(("after", "expected"), [
    (None, CHECK_AFTER[0]), (0, CHECK_AFTER[0]), (7, 7.0), (600, CHECK_AFTER[1])],
    ids=["none", "zero", "seven", "ten_minutes"])
def test_a_gif_still_processing_is_a_bounded_wait_for_the_service_never_a_sleep(
        rsps: responses.RequestsMock, platform: TwitterPlatform, after: int | None,
        expected: float) -> None:
    """Each look is one request and an answer: how long to wait before the next (never 0,
    never a long stall); the service waits it from its loop and decides when to give up."""
    info = {"state": "pending"} if after is None else {"state": "pending",
                                                       "check_after_secs": after}
    register_gif(rsps, info, [{**info, "state": "in_progress"}])
    uploaded = platform.upload([Media(GIF, "image/gif", ALT)])
    assert (uploaded.ids, uploaded.waiting, uploaded.check_in) == ((GIF_ID,), (GIF_ID,),
                                                                   expected)
    again = platform.processed(uploaded)
    assert (again.waiting, again.check_in, again.checks) == ((GIF_ID,), expected, 1)
    assert sent(rsps)[-1] == ("GET", "/2/media/upload")  # one look, no tweet


STEPS = ["initialize", "append", "finalize", "status"]


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize(("status", "kind"), [
    (429, RateLimited), (401, AuthFailed), (400, Rejected), (503, Transient)])
def test_gif_upload_errors_are_translated_and_stop_the_upload(
        rsps: responses.RequestsMock, platform: TwitterPlatform, step: str, status: int,
        kind: type[PlatformError]) -> None:
    urls = {"initialize": ("POST", f"{UPLOAD}/initialize", gif_answer(), ()),
            "append": ("POST", f"{UPLOAD}/{GIF_ID}/append", v2_upload_answer(), ()),
            "finalize": ("POST", f"{UPLOAD}/{GIF_ID}/finalize",
                         gif_answer({"state": "pending", "check_after_secs": 1}), ()),
            "metadata": ("POST", f"{MEDIA}/2/media/metadata", v2_upload_answer(), ()),
            "status": ("GET", UPLOAD, gif_answer(), (STATUS,))}
    for before in [*STEPS[:STEPS.index(step)], *(["metadata"] if step == "status" else [])]:
        method, url, answer, match = urls[before]
        add(rsps, method, url, answer, body="" if before == "append" else None, match=match)
    method, url, answer, match = urls[step]
    add(rsps, method, url, answer, status=status, body=x_error(status, "error"),
        headers={"x-rate-limit-remaining": "0"}, match=match)
    with pytest.raises(kind):
        reply_through(platform, a_mention(), "hi", [Media(GIF, "image/gif", ALT)])
    assert sent(rsps)[-1] == (method, urlsplit(url).path)  # nothing after the failed step
    assert sum(1 for c in rsps.calls if urlsplit(c.request.url).path == "/2/tweets") == 0


def test_gif_append_network_error_is_transient(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    add(rsps, "POST", f"{UPLOAD}/initialize", gif_answer())
    rsps.add("POST", f"{UPLOAD}/{GIF_ID}/append", body=requests.ConnectionError("reset"))
    with pytest.raises(Transient):
        platform.upload([Media(GIF, "image/gif", ALT)])
    assert sent(rsps) == [("POST", "/2/media/upload/initialize"),
                          ("POST", f"/2/media/upload/{GIF_ID}/append")]


@pytest.mark.parametrize("finalized", [
    {"errors": [{"title": "Invalid Request", "detail": "no data", "type": "about:blank"}]},
    {"data": {"id": GIF_ID, "processing_info": "odd"}},
    "not json",
], ids=["no_data", "odd_processing_info", "not_json"])
def test_gif_unreadable_finalize_answer_is_transient(
        rsps: responses.RequestsMock, platform: TwitterPlatform, finalized: Any) -> None:
    add(rsps, "POST", f"{UPLOAD}/initialize", gif_answer())
    add(rsps, "POST", f"{UPLOAD}/{GIF_ID}/append", v2_upload_answer(), body="")
    add(rsps, "POST", f"{UPLOAD}/{GIF_ID}/finalize", gif_answer(), body=finalized)
    with pytest.raises(Transient):
        platform.upload([Media(GIF, "image/gif", ALT)])


# ---------------------------------------------------------------- errors


def test_429_on_mentions_is_rate_limited_until_the_reset(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    template = mentions_template()
    reset = int(template["headers"]["x-rate-limit-reset"])
    add(rsps, "GET", MENTIONS_URL, template, status=429,
        body=x_error(429, "Too Many Requests"), headers={"x-rate-limit-remaining": "0"})
    with pytest.raises(RateLimited) as info:
        platform.fetch_mentions("1", None)
    assert info.value.reset_at == datetime.fromtimestamp(reset, UTC)
    assert info.value.mentions_read == []


@pytest.mark.parametrize(("status", "kind"), [(429, RateLimited), (503, Transient)])
def test_failure_on_a_later_page_hands_on_the_pages_read(
        rsps: responses.RequestsMock, platform: TwitterPlatform, status: int,
        kind: type[PlatformError]) -> None:
    first, second, users = mention_pages()
    add(rsps, "GET", MENTIONS_URL, first)
    add(rsps, "GET", MENTIONS_URL, second, status=status, body=x_error(status, "error"),
        headers={"x-rate-limit-remaining": "0"})
    with pytest.raises(kind) as info:
        platform.fetch_mentions("1", None)
    read = info.value.mentions_read
    assert [m.id for m in read] == [t["id"] for t in first["body"]["data"]]
    names = {u["id"]: u["username"] for u in users}
    assert [m.author for m in read] == [names[t["author_id"]] for t in first["body"]["data"]]
    assert len(rsps.calls) == 2


R15 = int(TWEET["headers"]["x-rate-limit-reset"])  # the recorded 15-minute reset


@pytest.mark.parametrize(("headers", "expected"), [
    # the user's 24-hour cap is spent, the 15-minute window has room: wait for the day's reset
    ({"x-rate-limit-remaining": "150", "x-user-limit-24hour-limit": "100",
      "x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": str(R15 + 50000)},
     R15 + 50000),
    # the app's cap is spent, the user's still has room
    ({"x-rate-limit-remaining": "150", "x-app-limit-24hour-remaining": "0",
      "x-app-limit-24hour-reset": str(R15 + 30000), "x-user-limit-24hour-remaining": "40",
      "x-user-limit-24hour-reset": str(R15 + 70000)}, R15 + 30000),
    # a later 24-hour reset without its remaining, the 15-minute window not exhausted
    ({"x-rate-limit-remaining": "150", "x-user-limit-24hour-reset": str(R15 + 60000)},
     R15 + 60000),
    # both spent: the later reset
    ({"x-rate-limit-remaining": "0", "x-user-limit-24hour-remaining": "0",
      "x-user-limit-24hour-reset": str(R15 + 40000)}, R15 + 40000),
    # the 15-minute window is spent, the day's cap has room: the 15-minute reset
    ({"x-rate-limit-remaining": "0", "x-user-limit-24hour-remaining": "12",
      "x-user-limit-24hour-reset": str(R15 + 40000)}, R15),
    ({"x-rate-limit-remaining": "0", "x-user-limit-24hour-reset": str(R15 + 40000)}, R15),
])
def test_429_waits_for_the_window_that_is_spent(
        rsps: responses.RequestsMock, platform: TwitterPlatform, headers: dict[str, str],
        expected: int) -> None:
    add(rsps, "POST", f"{TWEEPY}/2/tweets", TWEET, status=429,
        body=x_error(429, "Too Many Requests"), headers=headers)
    with pytest.raises(RateLimited) as info:
        platform.send_note(a_mention(), "hi")
    assert info.value.reset_at == datetime.fromtimestamp(expected, UTC)


def test_media_upload_429_on_the_daily_cap_waits_for_the_day(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    upload = v2_upload_answer()
    day = int(upload["headers"]["x-rate-limit-reset"]) + 80000
    add(rsps, "POST", f"{MEDIA}/2/media/upload", upload, status=429,
        body=x_error(429, "Too Many Requests"),
        headers={"x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": str(day)})
    with pytest.raises(RateLimited) as info:
        platform.upload(PICTURE)
    assert info.value.reset_at == datetime.fromtimestamp(day, UTC)


def test_503_is_transient_and_the_next_poll_works(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    template = mentions_template()
    add(rsps, "GET", MENTIONS_URL, template, status=503,
        body=x_error(503, "Service Unavailable"))
    _, last, _ = mention_pages()
    add(rsps, "GET", MENTIONS_URL, last)
    with pytest.raises(Transient):
        platform.fetch_mentions("1", None)
    assert len(platform.fetch_mentions("1", None)) == 3
    assert len(rsps.calls) == 2


@pytest.mark.parametrize(("status", "kind"), [
    (401, AuthFailed), (500, Transient), (502, Transient), (400, Rejected), (404, Rejected)])
def test_mentions_errors_are_translated(rsps: responses.RequestsMock,
                                        platform: TwitterPlatform, status: int,
                                        kind: type[Exception]) -> None:
    add(rsps, "GET", MENTIONS_URL, mentions_template(), status=status,
        body=x_error(status, "error"))
    with pytest.raises(kind):
        platform.fetch_mentions("1", None)


def test_mentions_malformed_json_and_network_errors_are_transient(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    add(rsps, "GET", MENTIONS_URL, mentions_template(), body="not json")
    with pytest.raises(Transient):
        platform.fetch_mentions("1", None)
    rsps.add("GET", MENTIONS_URL, body=requests.ConnectionError("connection reset"))
    with pytest.raises(Transient):
        platform.fetch_mentions("1", None)


def test_401_on_start_is_auth_failed(rsps: responses.RequestsMock) -> None:
    add(rsps, "GET", f"{TWEEPY}/2/users/me",
        recorded("x-api/get_me.json", "GET", "/2/users/me"), status=401,
        body=x_error(401, "Unauthorized"))
    with pytest.raises(AuthFailed):
        TwitterPlatform(settings()).start()


@pytest.mark.parametrize(("status", "kind"), [
    (429, RateLimited), (500, Transient), (503, Transient), (401, AuthFailed),
    (400, Rejected), (403, Rejected)])
def test_media_upload_errors_are_translated(rsps: responses.RequestsMock,
                                            platform: TwitterPlatform, status: int,
                                            kind: type[Exception]) -> None:
    upload = v2_upload_answer()
    add(rsps, "POST", f"{MEDIA}/2/media/upload", upload, status=status,
        body=x_error(status, "error"), headers={"x-rate-limit-remaining": "0"})
    with pytest.raises(kind) as info:
        platform.upload(PICTURE)
    if kind is RateLimited:
        reset = int(upload["headers"]["x-rate-limit-reset"])
        assert info.value.reset_at == datetime.fromtimestamp(reset, UTC)
    assert len(rsps.calls) == 1  # nothing posted after a failed upload


@pytest.mark.parametrize("body", ["not json", {"errors": [{"message": "no data"}]}])
def test_media_upload_unreadable_answer_is_transient(
        rsps: responses.RequestsMock, platform: TwitterPlatform, body: Any) -> None:
    add(rsps, "POST", f"{MEDIA}/2/media/upload", v2_upload_answer(), body=body)
    with pytest.raises(Transient):
        platform.upload(PICTURE)
    assert len(rsps.calls) == 1


def test_media_upload_network_error_is_transient(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    rsps.add("POST", f"{MEDIA}/2/media/upload", body=requests.ConnectionError("timed out"))
    with pytest.raises(Transient):
        platform.upload(PICTURE)


def test_alt_text_failure_stops_before_the_tweet(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    upload = v2_upload_answer()
    add(rsps, "POST", f"{MEDIA}/2/media/upload", upload)
    add(rsps, "POST", f"{MEDIA}/2/media/metadata", upload, status=503,
        body=x_error(503, "Service Unavailable"))
    with pytest.raises(Transient):
        platform.upload(PICTURE)
    assert len(rsps.calls) == 2


@pytest.mark.parametrize(("status", "kind"), [
    (429, RateLimited), (401, AuthFailed), (403, Rejected), (503, Transient)])
def test_create_tweet_errors_are_translated(rsps: responses.RequestsMock,
                                            platform: TwitterPlatform, status: int,
                                            kind: type[Exception]) -> None:
    add(rsps, "POST", f"{TWEEPY}/2/tweets", TWEET, status=status,
        body=x_error(status, "error"))
    with pytest.raises(kind):
        platform.send_note(a_mention(), "hi")


def assert_says_what_access_is_needed(message: str) -> None:
    assert "pay-per-use or Basic" in message
    assert "the free tier cannot read mentions" in message
    assert "\n" not in message  # one line, X's own words included


def test_403_on_mentions_is_auth_failed(rsps: responses.RequestsMock,
                                        platform: TwitterPlatform) -> None:
    add(rsps, "GET", MENTIONS_URL, mentions_template(), status=403,
        body={**x_error(403, "Forbidden"), "reason": "client-not-enrolled"})
    with pytest.raises(AuthFailed) as info:
        platform.fetch_mentions("1", None)
    assert_says_what_access_is_needed(str(info.value))


def test_403_on_start_says_what_access_a_mention_reading_bot_needs(
        rsps: responses.RequestsMock) -> None:
    add(rsps, "GET", f"{TWEEPY}/2/users/me", ME_TEMPLATE, status=403,
        body={**x_error(403, "Forbidden"), "reason": "client-not-enrolled"})
    with pytest.raises(AuthFailed) as info:
        TwitterPlatform(settings()).start()
    assert_says_what_access_is_needed(str(info.value))


def test_default_pacing_is_basic_access_posts_per_day() -> None:
    assert TwitterPlatform(settings()).media_limit == (100, 86400.0)
    assert TwitterPlatform(settings(posts_per_day=17)).media_limit == (17, 86400.0)
    assert TwitterPlatform.budget_counts == "posts"  # a tweet is one, whatever it carries


def test_create_tweet_malformed_json_is_transient(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    add(rsps, "POST", f"{TWEEPY}/2/tweets", TWEET, body="not json")
    with pytest.raises(Transient):
        platform.send_note(a_mention(), "hi")


def test_create_tweet_answer_without_data_is_a_platform_error(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    add(rsps, "POST", f"{TWEEPY}/2/tweets", TWEET,
        body={"errors": [{"title": "Invalid Request", "detail": "One or more parameters "
                          "to your request was invalid.", "type": "about:blank"}]})
    with pytest.raises(PlatformError):
        platform.send_note(a_mention(), "hi")


# ---------------------------------------------------------------- delete


DELETED = recorded("x-api/create_and_delete_tweet.json", "DELETE", "/2/tweets/")
TWEET_ID = TWEET["body"]["data"]["id"]


def test_delete_sends_delete_for_the_tweet(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    add(rsps, "DELETE", f"{TWEEPY}/2/tweets/{TWEET_ID}", DELETED)
    assert platform.delete(TWEET_ID) is None
    [call] = rsps.calls
    assert call.request.method == "DELETE"
    assert call.request.url == f"{TWEEPY}/2/tweets/{TWEET_ID}"
    assert signed_for(call.request, call.request.url)


def test_delete_of_a_tweet_gone_already_is_no_error(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    add(rsps, "DELETE", f"{TWEEPY}/2/tweets/{TWEET_ID}", DELETED, status=404,
        body=x_error(404, "Not Found"))
    platform.delete(TWEET_ID)
    assert len(rsps.calls) == 1


@pytest.mark.parametrize(("status", "kind"), [
    (401, AuthFailed), (403, Rejected), (429, RateLimited), (503, Transient)])
def test_delete_errors_are_translated(
        rsps: responses.RequestsMock, platform: TwitterPlatform, status: int,
        kind: type[PlatformError]) -> None:
    add(rsps, "DELETE", f"{TWEEPY}/2/tweets/{TWEET_ID}", DELETED, status=status,
        body=x_error(status, "error"))
    with pytest.raises(kind):
        platform.delete(TWEET_ID)


# ---------------------------------------------------------------- find_reply


def users_tweets(tweets: list[dict[str, Any]]) -> dict[str, Any]:
    """GET /2/users/:id/tweets, in the recorded timeline shape."""
    page = mentions_template()
    meta = {"result_count": len(tweets)}
    if tweets:
        meta.update(newest_id=tweets[0]["id"], oldest_id=tweets[-1]["id"])
    page["body"] = {"data": tweets, "meta": meta} if tweets else {"meta": meta}
    return page


def own_tweet(tweet_id: str, refs: list[dict[str, str]]) -> dict[str, Any]:
    return {"edit_history_tweet_ids": [tweet_id], "id": tweet_id,
            "text": "@user0 here is your human", "referenced_tweets": refs}


def test_find_reply_finds_the_bot_reply_to_the_mention(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    mention = a_mention()
    other = "1578516242867945475"
    tweets = [own_tweet("1578600000000000003", [{"type": "replied_to", "id": other}]),
              own_tweet("1578600000000000002", [{"type": "replied_to", "id": mention.id}]),
              own_tweet("1578600000000000001", [])]
    add(rsps, "GET", f"{TWEEPY}/2/users/{ME_ID}/tweets", users_tweets(tweets))
    assert platform.find_reply(mention) == Posted(id="1578600000000000002")
    q = query(rsps.calls[0])
    assert q["since_id"] == [mention.id]
    assert "referenced_tweets" in q["tweet.fields"][0].split(",")


@pytest.mark.parametrize("tweets", [
    [],
    [own_tweet("1578600000000000002", [{"type": "quoted", "id": "1578516295611748353"}]),
     own_tweet("1578600000000000001", [{"type": "replied_to", "id": "1578516242867945475"}])],
])
def test_find_reply_without_a_matching_reply_is_none(
        rsps: responses.RequestsMock, platform: TwitterPlatform,
        tweets: list[dict[str, Any]]) -> None:
    add(rsps, "GET", f"{TWEEPY}/2/users/{ME_ID}/tweets", users_tweets(tweets))
    assert platform.find_reply(a_mention("1578516295611748353")) is None


def test_find_reply_pages_back_to_the_mention(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    """A busy bot: a hundred tweets of its own since the mention, then its reply to it, on
    the second page (X's next_token, as recorded). Reading only the first page found nothing
    and answered the mention twice."""
    mention = a_mention()
    newer = [own_tweet(str(1578700000000000100 - i),
                       [{"type": "replied_to", "id": "1578516242867945475"}]) for i in range(100)]
    first = users_tweets(newer)
    token = mentions_template()["body"]["meta"]["next_token"]
    first["body"]["meta"]["next_token"] = token
    mine = own_tweet("1578600000000000002", [{"type": "replied_to", "id": mention.id}])
    add(rsps, "GET", f"{TWEEPY}/2/users/{ME_ID}/tweets", first)
    add(rsps, "GET", f"{TWEEPY}/2/users/{ME_ID}/tweets", users_tweets([mine]))
    assert platform.find_reply(mention) == Posted(id="1578600000000000002")
    q1, q2 = query(rsps.calls[0]), query(rsps.calls[1])
    assert q1["since_id"] == q2["since_id"] == [mention.id] and "pagination_token" not in q1
    assert q2["pagination_token"] == [token]


def test_find_reply_errors_are_translated(
        rsps: responses.RequestsMock, platform: TwitterPlatform) -> None:
    add(rsps, "GET", f"{TWEEPY}/2/users/{ME_ID}/tweets", users_tweets([]), status=429,
        body=x_error(429, "Too Many Requests"))
    with pytest.raises(RateLimited):
        platform.find_reply(a_mention())


def test_recordings_are_what_the_tests_assume() -> None:
    """Guards the templates: the recorded mentions page has a next_token and ten tweets."""
    [page] = [i for i in load("x-api/get_users_mentions.json")
              if "/mentions" in i["request"]["uri"]]
    assert page["response"]["body"]["meta"]["next_token"]
    assert len(page["response"]["body"]["data"]) == 10


# ---------------------------------------------------------------- where and how long


def signed_for(request: Any, url: str) -> bool:
    """True when the request's OAuth 1.0a signature (consumer secret cs, token secret ats) is
    valid for this URL."""
    auth = header(request, "Authorization")
    check = OAuthRequest(url, request.method)
    check.params = signature.collect_parameters(
        uri_query=urlsplit(url).query, headers={"Authorization": auth})
    check.signature = utils.unescape(
        dict(utils.parse_authorization_header(auth))["oauth_signature"])
    return signature.verify_hmac_sha1(check, "cs", "ats")


def test_tweepy_calls_go_to_api_base_signed_for_it(rsps: responses.RequestsMock) -> None:
    base = "https://x-gateway.example"
    add(rsps, "GET", f"{base}/2/users/me", ME_TEMPLATE)
    TwitterPlatform(settings(api_base=base)).start()
    [call] = rsps.calls
    assert call.request.url == f"{base}/2/users/me"
    assert signed_for(call.request, call.request.url)
    assert not signed_for(call.request, "https://api.twitter.com/2/users/me")


def test_every_request_carries_the_configured_timeout(rsps: responses.RequestsMock) -> None:
    add(rsps, "GET", f"{TWEEPY}/2/users/me", ME_TEMPLATE)
    _, last, _ = mention_pages()
    add(rsps, "GET", MENTIONS_URL, last)
    register_reply(rsps)
    p = TwitterPlatform(settings(request_timeout=7.5))
    p.start()
    p.fetch_mentions("1", None)
    reply_through(p, a_mention(), "hi", PICTURE)
    assert len(rsps.calls) == 5
    assert [c.request.req_kwargs["timeout"] for c in rsps.calls] == [(7.5, 7.5)] * 5


class StallingServer(ThreadingHTTPServer):
    """A real HTTP server on loopback: answers GET /2/users/me as X did, and takes every other
    request without ever answering it (until the test ends)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), StallingHandler)
        self.release = threading.Event()
        self.seen: queue.Queue[str] = queue.Queue()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class StallingHandler(BaseHTTPRequestHandler):
    server: StallingServer

    def do_GET(self) -> None:
        self.server.seen.put(f"{self.command} {urlsplit(self.path).path}")
        if urlsplit(self.path).path != "/2/users/me":
            self.server.release.wait()
            return
        body = json.dumps(ME_TEMPLATE["body"]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stalling() -> Iterator[StallingServer]:
    server = StallingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize(("action", "path"), [
    (lambda p: p.fetch_mentions("1", None), f"GET /2/users/{ME_ID}/mentions"),
    (lambda p: p.send_note(a_mention(), "hi"), "POST /2/tweets"),
    (lambda p: p.upload(PICTURE), "POST /2/media/upload"),
    (lambda p: p.upload([Media(b"GIF89a", "image/gif", ALT)]),
     "POST /2/media/upload/initialize"),
    (lambda p: p.delete("1"), "DELETE /2/tweets/1"),
], ids=["get_users_mentions", "create_tweet", "media_upload", "gif_upload", "delete"])
def test_a_server_that_never_answers_is_transient_within_the_timeout(
        stalling: StallingServer, action: Callable[[TwitterPlatform], Any], path: str) -> None:
    p = TwitterPlatform(settings(api_base=stalling.url, request_timeout=0.5))
    assert p.start().id == ME_ID  # tweepy's get_me went to api_base
    assert stalling.seen.get(timeout=5) == "GET /2/users/me"
    outcome: dict[str, Any] = {}

    def call() -> None:
        began = time.monotonic()
        try:
            action(p)
        except Exception as exc:
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - began

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(15)  # a bound on the test, not a synchronisation: without a timeout it hangs
    assert not worker.is_alive(), "the request is still waiting: it has no timeout"
    assert stalling.seen.get(timeout=5) == path  # the stalled request reached the server
    assert isinstance(outcome.get("error"), Transient)
    assert 0.5 <= outcome["seconds"] < 5
    p.stop()

"""Every post that answers a mention, on one path: each failed request counted toward the same
backoff and window, media processing as a pending state of the loop (never a sleep), the post
budget counted as the platform counts it, exactly once across a crash, and a cursor that never
waits for a waiting mention.

Against a real Mastodon API on loopback (mastodon-mock, faults injected with its control
plane) and against recorded X answers served by `responses`. The service is wired as
`python -m bot` wires it (make_platform with the clock's wake event); a fake clock moves
time, so nothing here sleeps.
"""

from __future__ import annotations

import io
import json
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from PIL import Image
from responses import matchers

pytest.importorskip("mastodon_mock")
from mastodon_mock.config import SeedAccount, SeedConfig

from bot.cli.parts import make_artist, make_platform
from bot.config import load_settings
from bot.ops.health import health
from bot.service import Service
from bot.settings import Settings
from bot.state.records import Picture
from bot.state.store import State
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.fixtures_http import ME_ID, TWEEPY, TWEET, add, mentions_template, recorded
from tests.fixtures_http import v2_upload_answer as png_upload
from tests.helpers import (
    TINY,
    FakeClock,
    client,
    fault,
    mastodon_service,
    replies_to,
    run_with_signals,
)

SEED = SeedConfig(accounts=[SeedAccount(username="bot", access_token="bot_token"),
                            SeedAccount(username="alice", access_token="alice_token")])


@pytest.fixture
def weights(tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [Seed(7, [0.3] * TINY.z_dim)]))
    return tiny_weights


def faults_left(srv) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    answer = requests.get(srv.base_url + "/api/v1/_mock/faults", timeout=10)
    answer.raise_for_status()
    return answer.json()


def clear_faults(srv) -> None:  # type: ignore[no-untyped-def]
    requests.delete(srv.base_url + "/api/v1/_mock/faults", timeout=10).raise_for_status()


def wired(settings: Settings, clock: FakeClock) -> Service:
    """The service as python -m bot builds it: the platform gets the clock's wake event."""
    return Service(settings, make_platform(settings, clock.wake), make_artist(settings),
                   State(settings.state_path, clock.now), clock)


# ---------------------------------------------------------------- 1. every failure counts


def test_a_lookup_that_keeps_failing_backs_off_to_the_cap_and_settles_past_the_window(
        srv, weights: Path, tmp_path: Path) -> None:
    """GET /api/v1/statuses/:id/context (the look for an earlier reply) answers 503 every
    time: each failed look is one attempt, the waits double up to the cap, BOT_MAX_ATTEMPTS
    does not stop a transient failure, and the mention is given up only once it is older than
    its backlog window (an hour here)."""
    from bot.service.retry import BACKOFF_CAP

    mention = client(srv, "alice").status_post("@bot create a human image")
    plenty = 1000
    fault(srv, match={"methods": ["GET"], "path": "/api/v1/statuses/*/context"},
          effect={"type": "status", "status": 503}, count=plenty)
    clock = FakeClock()
    service = mastodon_service(srv, weights, tmp_path / "state.db", clock, max_attempts=5,
                               backlog_hours=1)
    waits = []
    for _ in range(200):
        service.cycle()
        record = service.state.get("mastodon", str(mention["id"]))
        if record.status not in ("seen", "replying"):
            break
        waits.append(record.next_attempt_at - clock.now())
        clock.t = record.next_attempt_at
    [rule] = faults_left(srv)
    looks = plenty - rule["remaining"]
    assert record.status == "failed" and "past its 1 h window" in record.reason, record
    assert looks == len(waits) + 1 == record.attempts > 5  # tried on after five attempts
    for attempt, wait in enumerate(waits[:8], start=1):  # full jitter on 2, 4, 8 ... s
        assert 2 ** (attempt - 1) <= wait <= 2 ** attempt, waits
    assert max(waits) <= BACKOFF_CAP and sum(waits) >= 3600 - BACKOFF_CAP
    assert looks <= 20  # an hour of outage: one look every few minutes at the end
    clear_faults(srv)
    assert replies_to(srv, mention["id"]) == []


# ---------------------------------------------------------------- 4. media processing


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, format="PNG")
    return buf.getvalue()


def processing_upload(srv, looks: int) -> str:  # type: ignore[no-untyped-def]
    """The bot's next upload is answered as Mastodon answers one it processes (202, no url),
    with the id of a picture stored before, and `looks` GETs of it say 206 (still no url)
    before the server's own answer (with its url). Returns that media id."""
    media_id = str(client(srv, "bot").media_post(png(), mime_type="image/png")["id"])
    processing = {"id": media_id, "type": "image", "url": None, "preview_url": None,
                  "description": "A person.", "blurhash": None, "meta": {}}
    fault(srv, match={"methods": ["POST"], "path_regex": r"^/api/v[12]/media$"},
          effect={"type": "status", "status": 202, "body": processing}, count=1)
    fault(srv, match={"methods": ["GET"], "path": f"/api/v1/media/{media_id}"},
          effect={"type": "status", "status": 206, "body": processing}, count=looks)
    return media_id


def mastodon_settings(srv, weights: Path, tmp_path: Path) -> Settings:  # type: ignore[no-untyped-def]
    return load_settings(platform="mastodon", weights_dir=weights,
                         state_path=tmp_path / "state.db", daily_post_enabled=False,
                         mastodon={"base_url": srv.base_url, "access_token": "bot_token"})


def test_media_being_processed_is_looked_at_from_the_loop_though_the_wake_event_is_set(
        srv, weights: Path, tmp_path: Path) -> None:
    """A SIGHUP leaves the shared wake event set; the upload is processed for 40 looks. The
    looks are spread out by the loop (the old 30 polls in 0 ms failed), the reply carries that
    very upload (none wasted), the loop polls meanwhile and /healthz stays ok."""
    mention = client(srv, "alice").status_post("@bot create a human image")
    media_id = processing_upload(srv, looks=40)
    settings = mastodon_settings(srv, weights, tmp_path)
    clock = FakeClock()
    service = wired(settings, clock)
    clock.wake.set()  # as a SIGHUP or SIGTERM leaves it, until the loop's next wait
    healthy = []

    def on_wait(n: int) -> None:
        healthy.append(health(service.stats.last_poll, settings.poll_seconds,
                              settings.state_path, now=clock.now, problem=service.problem))
        if service.state.counts("mastodon") == {"replied": 1} or n > 400:
            service.request_stop()

    clock.on_wait = on_wait
    service.run()
    [reply] = replies_to(srv, mention["id"])
    assert [str(a["id"]) for a in reply["media_attachments"]] == [media_id]
    assert faults_left(srv) == []  # all 40 looks at a processing upload were made, then one more
    record = service.state.get("mastodon", str(mention["id"]))
    assert record.attempts == 1  # being processed is no failure: the post was the one attempt
    assert healthy and all(ok for ok, _ in healthy), healthy
    assert max(clock.waits) <= settings.poll_seconds  # polled all along
    assert clock.offset >= 40  # at least a second between looks, never a busy loop


def test_sigterm_while_the_media_is_processed_stops_at_once_and_a_restart_posts_that_upload(
        srv, weights: Path, tmp_path: Path) -> None:
    mention = client(srv, "alice").status_post("@bot create a human image")
    media_id = processing_upload(srv, looks=5)
    settings = mastodon_settings(srv, weights, tmp_path)
    clock = FakeClock()
    first = wired(settings, clock)

    def sigterm_at_second_wait(n: int) -> None:
        if n == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # what systemd sends on stop

    run_with_signals(first, sigterm_at_second_wait)
    assert first.stopping
    record = first.state.get("mastodon", str(mention["id"]))
    assert record.status == "seen" and "processed" in record.reason, record
    assert replies_to(srv, mention["id"]) == []
    first.state.close()

    restarted = wired(settings, FakeClock(start=clock.t))

    def until_replied(n: int) -> None:
        if restarted.state.counts("mastodon") == {"replied": 1} or n > 100:
            os.kill(os.getpid(), signal.SIGTERM)

    run_with_signals(restarted, until_replied)
    [reply] = replies_to(srv, mention["id"])
    assert [str(a["id"]) for a in reply["media_attachments"]] == [media_id]  # not uploaded twice
    assert faults_left(srv) == []


# ---------------------------------------------------------------- X: responses


USERS = [{"id": uid, "name": name.title(), "username": name, "description": ""}
         for uid, name in (("1000", "anna"), ("2000", "ben"), ("3000", "cleo"))]
MENTIONS = f"{TWEEPY}/2/users/{ME_ID}/mentions"
TWEETS = f"{TWEEPY}/2/tweets"
UPLOAD = f"{TWEEPY}/2/media/upload"
GIF_ID = "1880028106020515840"


def page(*tweets: tuple[str, str, str, str]) -> dict[str, Any]:
    """GET mentions in the recorded shape: (id, author id, text, id of the tweet answered)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    data = []
    for tid, author, text, answers in tweets:
        tweet = {"id": tid, "text": f"@TweepyDev {text}", "author_id": author,
                 "created_at": now, "edit_history_tweet_ids": [tid]}
        if answers:
            tweet.update(referenced_tweets=[{"type": "replied_to", "id": answers}],
                         in_reply_to_user_id=ME_ID)
        data.append(tweet)
    body: dict[str, Any] = {"meta": {"result_count": len(data)}}
    if data:
        body.update(data=data, includes={"users": USERS})
        body["meta"].update(newest_id=data[-1]["id"], oldest_id=data[0]["id"])
    return dict(mentions_template(), body=body)


def x_settings(tmp_path: Path, weights: Path, posts_per_day: int) -> Settings:
    return load_settings(
        platform="twitter", weights_dir=weights, state_path=tmp_path / "state.db",
        daily_post_enabled=False, user_limit_per_hour=0,
        twitter={"consumer_key": "ck", "consumer_secret": "cs", "access_token": "at",
                 "access_token_secret": "ats", "posts_per_day": posts_per_day})


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        add(mock, "GET", f"{TWEEPY}/2/users/me",
            recorded("x-api/get_me.json", "GET", "/2/users/me"))
        yield mock


def register_pngs(rsps: responses.RequestsMock, count: int) -> None:
    for i in range(count):
        answer = png_upload()
        answer["body"]["data"].update(id=str(500 + i), media_key=f"3_{500 + i}")
        add(rsps, "POST", UPLOAD, answer)
    add(rsps, "POST", f"{TWEEPY}/2/media/metadata", png_upload(), body={"data": {}})


def posted(rsps: responses.RequestsMock) -> list[dict[str, Any]]:
    return [json.loads(c.request.body) for c in rsps.calls
            if c.request.method == "POST" and c.request.url == TWEETS]


def picture_of_annas(service: Service) -> None:
    """Post 555 on X is a picture the bot made for anna (1000)."""
    service.state.record_pictures("twitter", [Picture(
        "555", "picture", [0.3] * TINY.z_dim, 7, 0.5, for_author_id="1000")])


def test_x_counts_a_reply_with_four_pictures_as_one_post(
        rsps: responses.RequestsMock, tmp_path: Path, weights: Path) -> None:
    """Two posts a day: a picture for ben, then four variations for anna in one tweet: two
    posts, both go out (four pictures were counted as four posts, and anna's waited a day)."""
    add(rsps, "GET", MENTIONS, page(("101", "2000", "create a human image", ""),
                                    ("102", "1000", "more like this", "555")))
    register_pngs(rsps, 5)
    add(rsps, "POST", TWEETS, TWEET)
    clock = FakeClock()
    service = wired(x_settings(tmp_path, weights, posts_per_day=2), clock)
    picture_of_annas(service)
    service.start()
    service.cycle()
    assert service.state.counts("twitter") == {"replied": 2}
    assert [len(t["media"]["media_ids"]) for t in posted(rsps)] == [1, 4]
    assert len(service.state.uploads_since("twitter", 0)) == 2  # two posts of the day's two


class Killed(BaseException):
    """The process dies here (SIGKILL, power loss): nothing after it runs."""


def test_x_a_note_whose_process_died_after_posting_is_found_not_sent_again(
        rsps: responses.RequestsMock, tmp_path: Path, weights: Path) -> None:
    settings = x_settings(tmp_path, weights, posts_per_day=10)
    add(rsps, "GET", MENTIONS, page(("101", "1000", "like #9999", "")))
    add(rsps, "GET", MENTIONS, page())
    tweets_sent = []

    def dies_after_x_stored_it(request: Any) -> tuple[int, dict[str, str], str]:
        tweets_sent.append(json.loads(request.body))
        raise Killed

    rsps.add_callback("POST", TWEETS, callback=dies_after_x_stored_it)
    note_id = "1578600000000000009"
    timeline = dict(mentions_template(), body={"data": [{
        "id": note_id, "text": "@anna no seed #9999", "edit_history_tweet_ids": [note_id],
        "referenced_tweets": [{"type": "replied_to", "id": "101"}]}],
        "meta": {"result_count": 1, "newest_id": note_id, "oldest_id": note_id}})
    add(rsps, "GET", f"{TWEEPY}/2/users/{ME_ID}/tweets", timeline)
    clock = FakeClock()
    service = wired(settings, clock)
    service.start()
    with pytest.raises(Killed):
        service.cycle()
    service.state.close()

    clock.t += 3600
    restarted = wired(settings, clock)  # a new process on the same state file
    restarted.start()
    restarted.cycle()
    assert len(tweets_sent) == 1  # looked for, found: not a second note
    record = restarted.state.get("twitter", "101")
    assert record.status == "refused" and record.reason == "no seed #9999", record
    assert len(restarted.state.uploads_since("twitter", 0)) == 1  # one of the day's posts
    assert restarted.state.last_note("twitter", "1000") is not None  # the one an hour, had


def since_ids(rsps: responses.RequestsMock) -> list[str | None]:
    calls = [c for c in rsps.calls if c.request.url.startswith(MENTIONS)]
    return [parse_qs(urlsplit(c.request.url).query).get("since_id", [None])[0] for c in calls]


def test_x_a_mention_waiting_for_the_day_budget_neither_pins_the_cursor_nor_is_lost(
        rsps: responses.RequestsMock, tmp_path: Path, weights: Path) -> None:
    """One post a day: ben's mention waits a day. Each poll asks only for what is new (X's
    Basic access reads mentions about ten times in 15 minutes), and ben's mention, kept in
    the state file, is answered the next day by a restarted bot that never reads it again."""
    settings = x_settings(tmp_path, weights, posts_per_day=1)
    add(rsps, "GET", MENTIONS, page(("101", "1000", "create a human image", ""),
                                    ("102", "2000", "create a human image", "")))
    add(rsps, "GET", MENTIONS, page(("103", "3000", "create a human image", "")))
    add(rsps, "GET", MENTIONS, page())
    register_pngs(rsps, 2)
    add(rsps, "POST", TWEETS, TWEET)
    clock = FakeClock()
    service = wired(settings, clock)
    service.start()
    for _ in range(3):
        service.cycle()
        clock.t += settings.poll_seconds
    assert sorted(r.mention.id for r in service.state.pending("twitter")) == ["102", "103"]
    assert since_ids(rsps) == [None, "102", "103"]  # the first start reads by start_time
    service.state.close()

    clock.t += 86400
    restarted = wired(settings, clock)
    restarted.start()
    restarted.cycle()
    assert since_ids(rsps)[-1] == "103"
    assert restarted.state.get("twitter", "102").status == "replied"
    assert [r.mention.id for r in restarted.state.pending("twitter")] == ["103"]  # tomorrow
    assert len(posted(rsps)) == 2


def gif_answer(processing: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": GIF_ID, "media_key": f"16_{GIF_ID}",
                            "expires_after_secs": 86399}
    if processing is not None:
        data["processing_info"] = processing
    return dict(png_upload(), body={"data": data})


def test_x_gif_processing_is_looked_at_from_the_loop_and_sigterm_leaves_it_pending(
        rsps: responses.RequestsMock, tmp_path: Path, weights: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """anna asks for a morph: X processes the GIF for a while. The bot never sleeps on it
    (time.sleep raises here): it looks from its loop, /healthz stays ok, SIGTERM stops it at
    once with the GIF pending, and the restarted bot posts that very upload."""

    def no_sleeping(seconds: float) -> None:
        raise AssertionError(f"slept {seconds}s while handling a mention")

    monkeypatch.setattr("time.sleep", no_sleeping)
    settings = x_settings(tmp_path, weights, posts_per_day=10)
    add(rsps, "GET", MENTIONS, page(("101", "1000", "morph", "555")))
    add(rsps, "GET", MENTIONS, page())
    add(rsps, "POST", f"{UPLOAD}/initialize", gif_answer())
    add(rsps, "POST", f"{UPLOAD}/{GIF_ID}/append", png_upload(), body="")
    add(rsps, "POST", f"{UPLOAD}/{GIF_ID}/finalize",
        gif_answer({"state": "pending", "check_after_secs": 30}))
    add(rsps, "POST", f"{TWEEPY}/2/media/metadata", png_upload(), body={"data": {}})
    status = (matchers.query_param_matcher({"command": "STATUS", "media_id": GIF_ID}),)
    for state in ("in_progress", "in_progress", "succeeded"):
        add(rsps, "GET", UPLOAD, gif_answer({"state": state, "check_after_secs": 30}),
            match=status)
    add(rsps, "POST", TWEETS, TWEET)
    clock = FakeClock()
    first = wired(settings, clock)
    picture_of_annas(first)
    healthy = []

    def sigterm_at_second_wait(n: int) -> None:
        healthy.append(health(first.stats.last_poll, settings.poll_seconds,
                              settings.state_path, now=clock.now, problem=first.problem))
        if n == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    run_with_signals(first, sigterm_at_second_wait)
    record = first.state.get("twitter", "101")
    assert record.status == "seen" and "processed" in record.reason, record
    assert posted(rsps) == []
    first.state.close()

    restarted = wired(settings, FakeClock(start=clock.t))

    def until_replied(n: int) -> None:
        healthy.append(health(restarted.stats.last_poll, settings.poll_seconds,
                              settings.state_path, now=restarted.clock.now,
                              problem=restarted.problem))
        if restarted.state.counts("twitter") == {"replied": 1} or n > 100:
            os.kill(os.getpid(), signal.SIGTERM)

    run_with_signals(restarted, until_replied)
    [tweet] = posted(rsps)
    assert tweet["media"]["media_ids"] == [GIF_ID]
    initialized = [c for c in rsps.calls if c.request.url.endswith("/initialize")]
    assert len(initialized) == 1  # one upload, looked at across the restart
    assert healthy and all(ok for ok, _ in healthy), healthy
    [picture] = restarted.state.pictures_of("twitter", tweet_id := TWEET["body"]["data"]["id"])
    assert picture.kind == "morph" and picture.parent_post_id == "555", tweet_id


def test_x_gif_never_processed_is_a_failed_attempt_after_the_limit_then_uploaded_afresh(
        rsps: responses.RequestsMock, tmp_path: Path, weights: Path) -> None:
    from bot.service.outbox import PROCESSING_LIMIT

    settings = x_settings(tmp_path, weights, posts_per_day=10)
    add(rsps, "GET", MENTIONS, page(("101", "1000", "morph", "555")))
    add(rsps, "GET", MENTIONS, page())
    add(rsps, "POST", f"{UPLOAD}/initialize", gif_answer())
    add(rsps, "POST", f"{UPLOAD}/{GIF_ID}/append", png_upload(), body="")
    add(rsps, "POST", f"{UPLOAD}/{GIF_ID}/finalize",
        gif_answer({"state": "pending", "check_after_secs": 30}))
    add(rsps, "POST", f"{UPLOAD}/{GIF_ID}/finalize", gif_answer())  # the second: at once
    add(rsps, "POST", f"{TWEEPY}/2/media/metadata", png_upload(), body={"data": {}})
    add(rsps, "GET", UPLOAD, gif_answer({"state": "in_progress", "check_after_secs": 30}),
        match=(matchers.query_param_matcher({"command": "STATUS", "media_id": GIF_ID}),))
    add(rsps, "POST", TWEETS, TWEET)
    clock = FakeClock()
    service = wired(settings, clock)
    picture_of_annas(service)
    service.start()
    service.cycle()  # uploaded, being processed
    clock.t += PROCESSING_LIMIT
    service.cycle()  # still processing after the limit: one failed attempt
    record = service.state.get("twitter", "101")
    assert record.status == "seen" and record.attempts == 1 and "still being" in record.reason
    assert service.state.outgoing("twitter", "101") is None  # that upload is given up
    clock.t = record.next_attempt_at
    service.cycle()  # decided again, uploaded afresh, posted
    assert service.state.get("twitter", "101").status == "replied"
    assert len([c for c in rsps.calls if c.request.url.endswith("/initialize")]) == 2
    [tweet] = posted(rsps)
    assert tweet["media"]["media_ids"] == [GIF_ID]


# ---------------------------------------------------------------- X: the daily post, the gauge


def x_unavailable() -> dict[str, Any]:
    return {"title": "Service Unavailable", "detail": "Service Unavailable",
            "type": "about:blank", "status": 503}


def test_x_a_daily_post_whose_upload_failed_is_made_later_that_day(
        rsps: responses.RequestsMock, tmp_path: Path, weights: Path) -> None:
    """The upload answers 503: no tweet was asked for, so the day's claim is released and
    the post goes out on the next try (it was kept, and that day had no post). Then the day
    is posted, its cost counted and its picture remembered."""
    from bot.service.daily import DAILY_RETRY

    add(rsps, "POST", UPLOAD, png_upload(), status=503, body=x_unavailable())
    register_pngs(rsps, 1)
    add(rsps, "POST", TWEETS, TWEET)
    clock = FakeClock()
    service = wired(x_settings(tmp_path, weights, posts_per_day=10), clock)
    service.start()
    day = service.today()
    assert service.daily_post() is None
    assert service.daily_failure is not None
    assert "was not made" in service.daily_failure.message
    assert service.state.daily("twitter", day) is None and posted(rsps) == []
    clock.t += DAILY_RETRY
    post_id = service.daily_post()
    assert post_id == TWEET["body"]["data"]["id"] and len(posted(rsps)) == 1
    assert service.state.daily("twitter", day)["status"] == "posted"
    assert len(service.state.uploads_since("twitter", 0)) == 1
    [picture] = service.state.pictures_of("twitter", post_id)
    assert picture.kind == "daily"


def test_x_a_daily_post_whose_tweet_failed_may_have_gone_out_and_is_not_tried_again(
        rsps: responses.RequestsMock, tmp_path: Path, weights: Path) -> None:
    """The upload went through; POST /2/tweets answered 503: X may have stored the tweet and
    has no idempotency key, so the day keeps its claim: never two posts on one day."""
    register_pngs(rsps, 1)
    add(rsps, "POST", TWEETS, TWEET, status=503, body=x_unavailable())
    clock = FakeClock()
    service = wired(x_settings(tmp_path, weights, posts_per_day=10), clock)
    service.start()
    assert service.daily_post() is None
    assert service.daily_failure is not None
    assert "may have gone out" in service.daily_failure.message
    assert service.state.daily("twitter", service.today())["status"] == "posting"
    assert service.daily_post() is None and len(posted(rsps)) == 1


def test_x_a_note_waiting_for_the_post_budget_shows_in_the_budget_gauge(
        rsps: responses.RequestsMock, tmp_path: Path, weights: Path) -> None:
    """One post a day: anna's picture takes it, and ben's "like #9999" note waits for the
    budget too (on X a note is a post). The gauge says how long, whatever the wait's words."""
    from bot.state.schema import Wait

    add(rsps, "GET", MENTIONS, page(("101", "1000", "create a human image", ""),
                                    ("102", "2000", "like #9999", "")))
    register_pngs(rsps, 1)
    add(rsps, "POST", TWEETS, TWEET)
    clock = FakeClock()
    service = wired(x_settings(tmp_path, weights, posts_per_day=1), clock)
    service.start()
    service.cycle()
    assert service.state.get("twitter", "101").status == "replied"
    waiting = service.state.get("twitter", "102")
    assert waiting.status == "seen" and waiting.waiting_for is Wait.BUDGET, waiting
    assert waiting.reason.startswith("the note waits for the post budget")
    due_in = waiting.next_attempt_at - clock.now()
    assert 86000 <= due_in <= 86400
    assert service.metrics.budget_wait._value.get() == pytest.approx(due_in, abs=5)

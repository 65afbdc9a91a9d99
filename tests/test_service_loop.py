"""The loop as an operator meets it: a server that is down when the bot starts, the media
budget, SIGHUP, the daily post as one mechanism, and what each exit status means."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

pytest.importorskip("mastodon_mock")
from mastodon_mock.config import SeedAccount, SeedConfig

from bot.cli.parts import make_artist
from bot.config import load_settings
from bot.ops.health import health
from bot.platforms.local import LocalPlatform
from bot.platforms.mastodon import MastodonPlatform
from bot.service import Service
from bot.state.store import State
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import TINY, FakeClock, client, replies_to, run_with_signals

REPO = Path(__file__).resolve().parent.parent
USERS = ["alice", "bob", "carol", "dave", "erin"]
SEED = SeedConfig(accounts=[SeedAccount(username="bot", access_token="bot_token"),
                            *[SeedAccount(username=u, access_token=f"{u}_token") for u in USERS]])


def bot_environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", **extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Forwarder:
    """A TCP forwarder on a fixed loopback port to an upstream port: the server 'comes up'
    when this starts listening; before that the port refuses connections."""

    def __init__(self, port: int, upstream_port: int):
        self.upstream = upstream_port
        self.sock = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.upstream))
            for a, b in ((conn, up), (up, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def weights(tiny_weights: Path) -> Path:
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [Seed(7, [0.3] * TINY.z_dim)]))
    return tiny_weights


# ---------------------------------------------------------------- 1. down at start


def test_a_bot_started_while_the_server_is_down_answers_once_it_is_up(srv, weights: Path,
                                                                      tmp_path: Path) -> None:
    mention = client(srv, "alice").status_post("@bot create a human image")
    port, metrics_port = free_port(), free_port()
    env = bot_environment(
        BOT_PLATFORM="mastodon", BOT_MASTODON__BASE_URL=f"http://127.0.0.1:{port}",
        BOT_MASTODON__ACCESS_TOKEN="bot_token", BOT_WEIGHTS_DIR=str(weights),
        BOT_STATE_PATH=str(tmp_path / "state.db"), BOT_POLL_SECONDS="1",
        BOT_DAILY_POST_ENABLED="false", BOT_METRICS_PORT=str(metrics_port))
    proc = subprocess.Popen([sys.executable, "-m", "bot"], cwd=tmp_path, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    forwarder = None
    log: list[str] = []
    try:
        for line in proc.stderr:  # nothing listens on the port yet: the start is retried
            log.append(line)
            if "start attempt 1:" in line:
                break
        assert "retrying in" in log[-1] and proc.poll() is None
        health_answer = requests.get(f"http://127.0.0.1:{metrics_port}/healthz", timeout=10)
        assert health_answer.status_code == 503 and "cannot reach" in health_answer.text
        forwarder = Forwarder(port, int(srv.base_url.rsplit(":", 1)[1]))  # the server is up
        for line in proc.stderr:
            log.append(line)
            if "replied" in line:
                break
        assert len(replies_to(srv, mention["id"])) == 1
        assert requests.get(f"http://127.0.0.1:{metrics_port}/healthz",
                            timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        if forwarder is not None:
            forwarder.close()
    assert not any("Traceback" in line for line in log)


@pytest.mark.parametrize("command", ["once", "post", "check"])
@pytest.mark.parametrize("platform", ["mastodon", "twitter"])
def test_one_shot_commands_say_the_server_is_unreachable_in_one_line(
        platform: str, command: str, weights: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = bot_environment(BOT_PLATFORM=platform, BOT_WEIGHTS_DIR=str(weights),
                          BOT_STATE_PATH=str(tmp_path / "state.db"))
    if platform == "mastodon":
        env.update(BOT_MASTODON__BASE_URL=url, BOT_MASTODON__ACCESS_TOKEN="token")
    else:
        env.update(BOT_TWITTER__API_BASE=url, BOT_TWITTER__CONSUMER_KEY="ck",
                   BOT_TWITTER__CONSUMER_SECRET="cs", BOT_TWITTER__ACCESS_TOKEN="at",
                   BOT_TWITTER__ACCESS_TOKEN_SECRET="ats")
    result = subprocess.run([sys.executable, "-m", "bot", command], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 69, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot reach {platform} at {url}")
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- 2. the media budget


def test_waiting_for_the_budget_never_blocks_the_loop_nor_exceeds_the_limit(
        srv, weights: Path, tmp_path: Path, bot_env: Path, caplog) -> None:
    mentions = [client(srv, u).status_post("@bot create a human image") for u in USERS]
    settings = load_settings(platform="mastodon", weights_dir=weights,
                             state_path=tmp_path / "state.db", daily_post_enabled=False,
                             user_limit_per_hour=0, poll_seconds=60,
                             mastodon={"base_url": srv.base_url, "access_token": "bot_token",
                                       "media_per_30min": 2})
    clock = FakeClock()
    service = Service(settings, MastodonPlatform(settings.mastodon), make_artist(settings),
                      State(settings.state_path, clock.now), clock,
                      load_artist=lambda: make_artist(settings))
    healthy: list[tuple[bool, str]] = []

    def on_wait(n: int) -> None:
        healthy.append(health(service.stats.last_poll, settings.poll_seconds,
                              settings.state_path, now=clock.now, problem=service.problem))
        if n == 5:  # a SIGHUP while mentions wait for the budget
            os.kill(os.getpid(), signal.SIGHUP)
        if service.state.counts("mastodon") == {"replied": 5} or n > 500:
            service.request_stop()

    run_with_signals(service, on_wait)
    assert "reloaded weights" in caplog.text
    assert service.state.counts("mastodon") == {"replied": 5}
    assert all(len(replies_to(srv, m["id"])) == 1 for m in mentions)
    uploads = service.state.uploads_since("mastodon", 0)
    assert len(uploads) == 5
    for i, t in enumerate(uploads):  # never more than 2 in any 30-minute window
        assert sum(t <= u < t + 1800 for u in uploads[i:]) <= 2
    assert healthy and all(ok for ok, _ in healthy), healthy
    assert max(clock.waits) <= settings.poll_seconds  # polled all along: no long sleep
    assert uploads[-1] - uploads[0] >= 2 * 1800 - 1  # the fifth waited two windows


def test_a_mention_that_will_be_ignored_costs_no_lookup(srv, weights: Path, tmp_path: Path,
                                                       bot_env: Path) -> None:
    """Own posts, bots, #nobot and texts without a trigger are decided before the look for an
    earlier reply: a "thanks!" costs no request, and a deleted one is not a failure."""
    client(srv, "alice").status_post("@bot thanks, lovely picture!")
    rule = {"match": {"methods": ["GET"], "path": "/api/v1/statuses/*/context"},
            "effect": {"type": "status", "status": 404}, "count": 5}
    requests.post(srv.base_url + "/api/v1/_mock/faults", json=rule, timeout=10
                  ).raise_for_status()
    settings = load_settings(platform="mastodon", weights_dir=weights,
                             state_path=tmp_path / "state.db", daily_post_enabled=False,
                             mastodon={"base_url": srv.base_url, "access_token": "bot_token"})
    clock = FakeClock()
    service = Service(settings, MastodonPlatform(settings.mastodon), make_artist(settings),
                      State(settings.state_path, clock.now), clock)
    service.start()
    service.cycle()
    assert service.state.counts("mastodon") == {"ignored": 1}
    [left] = requests.get(srv.base_url + "/api/v1/_mock/faults", timeout=10).json()
    assert left["remaining"] == 5  # the status context was never asked for


def test_the_daily_post_runs_from_the_loop_once_a_day_across_restarts(
        bot_env: Path, weights: Path) -> None:
    settings = load_settings(weights_dir=weights, state_path=bot_env / "state.db",
                             local={"inbox": bot_env / "in", "outbox": bot_env / "out",
                                    "stdin": False}, daily_post_enabled=True,
                             daily_post_time="09:00", timezone="Europe/Berlin",
                             poll_seconds=600)
    start = datetime(2026, 11, 24, 7, 55, tzinfo=UTC).timestamp()  # 08:55 in Berlin
    woke_at: list[float] = []

    def run_until(end: float) -> None:
        clock = FakeClock()
        clock.t = woke_at[-1] if woke_at else start
        service = Service(settings, LocalPlatform(settings.local, wake=clock.wake),
                          make_artist(settings), State(settings.state_path, clock.now), clock)

        def on_wait(n: int) -> None:
            woke_at.append(clock.t)
            if clock.t >= end:
                service.request_stop()

        clock.on_wait = on_wait
        service.run()
        service.state.close()

    nine = datetime(2026, 11, 24, 8, 0, tzinfo=UTC).timestamp()  # 09:00 in Berlin
    run_until(nine + 600)
    assert nine in woke_at  # the loop slept until the post time, not a poll interval past it
    assert len(list((bot_env / "out").glob("post-*.png"))) == 1
    run_until(nine + 1200)  # a restart within the grace: not a second post
    assert len(list((bot_env / "out").glob("post-*.png"))) == 1
    run_until(nine + 86400 + 60)  # the next day
    posts = sorted(p.name for p in (bot_env / "out").glob("post-*.json"))
    assert posts == ["post-daily-2026-11-24.json", "post-daily-2026-11-25.json"]


# ---------------------------------------------------------------- 3. exit statuses


def run_bot(args: list[str], cwd: Path, code: str | None = None, stdin: str = "",
            **env: str) -> subprocess.CompletedProcess:
    """python -m bot ARGS, or with `code` run first in the same interpreter (a fault)."""
    command = [sys.executable, "-m", "bot", *args] if code is None else [
        sys.executable, "-c", code + "\nimport sys, bot.__main__ as m\n"
        f"sys.exit(m.main({args!r}))"]
    return subprocess.run(command, cwd=cwd, env=bot_environment(**env), input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_an_exception_in_a_fetch_is_retried_and_never_exit_78(bot_env: Path,
                                                              weights: Path) -> None:
    fault = ("from bot.platforms.local import LocalPlatform\n"
             "real = LocalPlatform.fetch_mentions\n"
             "calls = []\n"
             "def fetch(self, *a):\n"
             "    calls.append(1)\n"
             "    if len(calls) == 1: raise ValueError('a stray bug')\n"
             "    return real(self, *a)\n"
             "LocalPlatform.fetch_mentions = fetch\n")
    result = run_bot([], bot_env, fault, stdin="@alice create a human image\n",
                     BOT_WEIGHTS_DIR=str(weights), BOT_POLL_SECONDS="1",
                     BOT_DAILY_POST_ENABLED="false")
    assert result.returncode == 0, result.stderr
    assert "fetching mentions failed unexpectedly" in result.stderr
    assert "ValueError: a stray bug" in result.stderr  # the traceback is in the log
    assert "reply to @alice" in result.stdout


def test_an_unexpected_error_in_the_loop_exits_1_with_its_traceback(bot_env: Path,
                                                                   weights: Path) -> None:
    fault = ("from bot.service import Service\n"
             "def work(self): raise ValueError('a bug in the loop')\n"
             "Service.work = work\n")
    result = run_bot([], bot_env, fault, stdin="@alice create a human image\n",
                     BOT_WEIGHTS_DIR=str(weights), BOT_DAILY_POST_ENABLED="false")
    assert result.returncode == 1, result.stderr
    assert "Traceback" in result.stderr and "ValueError: a bug in the loop" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: stopped by an unexpected error")


def test_an_exception_answering_one_mention_fails_it_after_its_attempts(
        bot_env: Path, weights: Path) -> None:
    fault = ("from bot.platforms.local import LocalPlatform\n"
             "real = LocalPlatform.reply\n"
             "def reply(self, m, *a):\n"
             "    if 'broken' in m.text: raise KeyError('odd answer')\n"
             "    return real(self, m, *a)\n"
             "LocalPlatform.reply = reply\n"
             "import bot.service.retry\n"
             "bot.service.retry.backoff = lambda attempt, rng: 0.0\n")
    result = run_bot([], bot_env, fault,
                     stdin="@alice create a human image broken\n@bob create a human image\n",
                     BOT_WEIGHTS_DIR=str(weights), BOT_DAILY_POST_ENABLED="false",
                     BOT_MAX_ATTEMPTS="3")
    assert result.returncode == 0, result.stderr
    assert "reply to @bob" in result.stdout
    assert result.stderr.count("answering failed unexpectedly") == 3
    assert "giving up after 3 attempts" in result.stderr
    state = State(bot_env / "state" / "bot.sqlite3")
    assert state.counts("local") == {"replied": 1, "failed": 1}


def test_usage_errors_exit_64_and_configuration_errors_78(bot_env: Path,
                                                         weights: Path) -> None:
    unknown_seed = run_bot(["generate", "--out", "x.png", "--seed-id", "999"], bot_env,
                           BOT_WEIGHTS_DIR=str(weights))
    assert unknown_seed.returncode == 64
    assert unknown_seed.stderr.strip().splitlines()[-1].startswith("error: no seed #999")
    assert run_bot(["generate", "--bogus"], bot_env).returncode == 64
    (weights / "generator.safetensors").write_bytes(b"not weights")
    broken = run_bot(["once"], bot_env, BOT_WEIGHTS_DIR=str(weights))
    assert broken.returncode == 78 and "Traceback" not in broken.stderr


def test_generate_writes_into_a_folder_encodes_by_suffix_and_makes_a_missing_parent(
        bot_env: Path, weights: Path) -> None:
    from PIL import Image

    folder = bot_env / "pictures"
    folder.mkdir()
    into = run_bot(["generate", "--out", str(folder), "--request-id", "r1"], bot_env,
                   BOT_WEIGHTS_DIR=str(weights))
    assert into.returncode == 0, into.stderr
    assert Image.open(folder / "human-r1.png").format == "PNG"
    jpeg = run_bot(["generate", "--out", "x.jpg"], bot_env, BOT_WEIGHTS_DIR=str(weights))
    assert jpeg.returncode == 0 and Image.open(bot_env / "x.jpg").format == "JPEG"
    refused = run_bot(["generate", "--out", "x.gif"], bot_env, BOT_WEIGHTS_DIR=str(weights))
    assert refused.returncode == 64
    assert refused.stderr.strip().splitlines()[-1].startswith("error: --out x.gif")
    assert not (bot_env / "x.gif").exists()
    made = run_bot(["generate", "--out", str(bot_env / "missing" / "x.png")], bot_env,
                   BOT_WEIGHTS_DIR=str(weights))  # its folder is made, as model.sample does
    assert made.returncode == 0 and Image.open(bot_env / "missing" / "x.png").format == "PNG"


def test_the_unit_restarts_everything_but_configuration_errors_without_giving_up() -> None:
    unit = dict(line.split("=", 1) for line in
                (REPO / "deploy" / "human-image-bot.service").read_text().splitlines()
                if "=" in line and not line.startswith("#"))
    assert unit["RestartPreventExitStatus"].split() == ["78"]
    assert unit["Restart"] == "on-failure"
    assert unit["StartLimitIntervalSec"] == "0"  # a crash loop is retried, never given up on


def test_x_counts_every_post_and_never_uploads_for_a_reply_that_cannot_go_out(
        bot_env: Path, weights: Path) -> None:
    """X counts notes like replies (POST /2/tweets): with 2 posts a day, a reply and a limit
    note use the day up, and the next reply waits without uploading its picture."""
    import responses

    from tests.fixtures_http import (
        ME_ID,
        TWEEPY,
        TWEET,
        add,
        mentions_template,
        recorded,
        v2_upload_answer,
    )

    now = datetime.now(UTC)
    users = [{"id": "1000", "name": "A", "username": "anna", "description": ""},
             {"id": "2000", "name": "B", "username": "ben", "description": ""}]

    def page(*tweets: tuple[str, str]) -> dict:
        data = [{"id": tid, "text": "@TweepyDev create a human image", "author_id": author,
                 "created_at": now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                 "edit_history_tweet_ids": [tid]} for tid, author in tweets]
        template = mentions_template()
        meta = {"result_count": len(data), "newest_id": data[-1]["id"],
                "oldest_id": data[0]["id"]}
        return dict(template, body={"data": data, "includes": {"users": users}, "meta": meta})

    settings = load_settings(
        platform="twitter", weights_dir=weights, state_path=bot_env / "state.db",
        daily_post_enabled=False, user_limit_per_hour=1,
        twitter={"consumer_key": "ck", "consumer_secret": "cs", "access_token": "at",
                 "access_token_secret": "ats", "posts_per_day": 2})
    from bot.platforms.twitter import TwitterPlatform

    mentions_url = f"{TWEEPY}/2/users/{ME_ID}/mentions"
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        add(rsps, "GET", f"{TWEEPY}/2/users/me",
            recorded("x-api/get_me.json", "GET", "/2/users/me"))
        add(rsps, "GET", mentions_url, page(("101", "1000"), ("102", "1000")))
        add(rsps, "GET", mentions_url, page(("103", "2000")))
        upload = v2_upload_answer()
        add(rsps, "POST", f"{TWEEPY}/2/media/upload", upload)
        add(rsps, "POST", f"{TWEEPY}/2/media/metadata", upload, body={"data": {}})
        add(rsps, "POST", f"{TWEEPY}/2/tweets", TWEET)
        clock = FakeClock()
        service = Service(settings, TwitterPlatform(settings.twitter), make_artist(settings),
                          State(settings.state_path, clock.now), clock)
        service.start()
        service.cycle()  # 101: a reply; 102: over anna's limit, a note
        assert service.state.counts("twitter") == {"replied": 1, "refused": 1}
        clock.t += 600
        service.cycle()  # 103: the day's two posts are used: it waits, nothing uploaded
        posts = [c.request.url for c in rsps.calls if c.request.method == "POST"]
    assert posts.count(f"{TWEEPY}/2/tweets") == 2
    assert posts.count(f"{TWEEPY}/2/media/upload") == 1
    [waiting] = service.state.pending("twitter")
    assert waiting.mention.id == "103" and waiting.reason == "waiting for the media budget"
    first_post = service.state.uploads_since("twitter", 0)[0]
    assert waiting.next_attempt_at == pytest.approx(first_post + 86400)


# ---------------------------------------------------------------- the clock and the stats


class LateWake(threading.Event):
    """An event whose wait times out, and then, before the waiter goes on, is set: a signal
    or a line of input arriving in that very moment (forced here, rare in real life)."""

    def wait(self, timeout: float | None = None) -> bool:
        woken = super().wait(0)
        self.set()
        return woken


def test_a_wake_up_right_after_the_timeout_is_kept_for_the_next_wait() -> None:
    from bot.service import Clock

    clock = Clock(wake=LateWake())
    assert clock.wait(30) is False  # timed out; the wake-up came just after
    assert clock.wake.is_set()  # not cleared away: the loop looks again at once
    assert clock.wait(0) is True and not clock.wake.is_set()  # used up by that look


def test_the_reply_latencies_kept_are_a_bounded_window() -> None:
    from bot.service.clock import LATENCY_WINDOW, Stats

    stats = Stats()
    for i in range(LATENCY_WINDOW * 5):
        stats.latencies.append(float(i))
    assert len(stats.latencies) == LATENCY_WINDOW  # months of replies: flat memory
    assert min(stats.latencies) == LATENCY_WINDOW * 4  # the newest are kept

"""Operations: the systemd unit, .env.example, SIGHUP reload, /healthz and /metrics, logs."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bot.cli.parts import make_artist
from bot.config import load_settings
from bot.ops.health import ObserveServer, health
from bot.ops.logs import ScrubSecrets, setup_logging
from bot.ops.metrics import Metrics
from bot.platforms.local import LocalPlatform
from bot.service import Clock, Service
from bot.settings import Settings
from bot.state.store import State
from model.nets.weights import WEIGHTS_FILE
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import TINY

REPO = Path(__file__).resolve().parent.parent


def clean_env() -> dict[str, str]:
    return dict(os.environ)


# ---------------------------------------------------------------- deploy/


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="needs systemd-analyze (Debian's systemd; .ci/run installs it)")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (REPO / "deploy" / "human-image-bot.service").read_text()
    for key in ("User=human-image-bot", "StateDirectory=", "EnvironmentFile=",
                "Restart=on-failure", "ProtectSystem=strict", "NoNewPrivileges=yes",
                "PrivateTmp=yes", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert key in unit, key
    # the install prefix points at this checkout so that ExecStart's python exists
    local = tmp_path / "human-image-bot.service"
    local.write_text(unit.replace("/opt/human-image-bot/.venv/bin/python", sys.executable)
                     .replace("/opt/human-image-bot", str(REPO)))
    result = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_env_example_lists_every_setting() -> None:
    text = (REPO / "deploy" / ".env.example").read_text()
    listed = set(re.findall(r"^#? ?(BOT_[A-Z0-9_]+)=", text, re.MULTILINE))
    expected = set()
    for name, field in Settings.model_fields.items():
        sub = getattr(field.annotation, "model_fields", None)
        if sub:
            expected |= {f"BOT_{name.upper()}__{n.upper()}" for n in sub}
        else:
            expected.add(f"BOT_{name.upper()}")
    assert expected == listed, (expected - listed, listed - expected)


# ---------------------------------------------------------------- reload


@pytest.fixture
def settings(bot_env: Path, tiny_weights: Path):
    tmp_path = bot_env
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [Seed(1, [0.1] * TINY.z_dim)]))
    return load_settings(weights_dir=tiny_weights, state_path=tmp_path / "state.db",
                         local={"inbox": tmp_path / "in", "outbox": tmp_path / "out",
                                "stdin": False}, daily_post_enabled=False)


def make_service(settings) -> Service:
    clock = Clock()
    service = Service(settings, LocalPlatform(settings.local, wake=clock.wake),
                      make_artist(settings), State(settings.state_path), clock,
                      load_artist=lambda: make_artist(settings))
    service.start()
    return service


def test_reload_takes_new_seeds_and_refuses_bad_files(settings, tiny_weights: Path) -> None:
    service = make_service(settings)
    old = service.artist
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [Seed(42, [0.2] * TINY.z_dim)]))
    assert service.reload()
    assert [s.id for s in service.artist.seeds.seeds] == [42] and service.artist is not old

    good = service.artist
    (tiny_weights / "seeds.json").write_text('{"version": 1, "z_dim": 3, "seeds": []}')
    assert not service.reload()  # another z_dim: refused
    weights = tiny_weights / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, []))
    assert not service.reload()
    assert service.artist is good
    assert service.artist.draw("still works").seed_id == 42


def test_sighup_reloads_a_running_bot(tmp_path: Path, tiny_weights: Path) -> None:
    env = clean_env()
    env.update(BOT_WEIGHTS_DIR=str(tiny_weights), PYTHONPATH=str(REPO),
               BOT_DAILY_POST_ENABLED="false")
    proc = subprocess.Popen([sys.executable, "-m", "bot"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=env)
    try:
        for line in proc.stderr:  # wait until the loop runs
            if "signed in to local" in line:
                break
        save_seeds(tiny_weights / "seeds.json",
                   SeedBook(TINY.z_dim, [Seed(42, [0.2] * TINY.z_dim)]))
        proc.send_signal(signal.SIGHUP)
        for line in proc.stderr:
            if "reloaded weights" in line:
                assert "1 seeds" in line
                break
        proc.stdin.write("@alice create a human image\n")
        proc.stdin.close()
        reply = proc.stdout.readline()
        assert reply.startswith("reply to @alice")
        proc.wait(timeout=60)
    finally:
        proc.kill() if proc.poll() is None else None
    [meta] = list((tmp_path / "local" / "outbox").glob("*.json"))
    assert "seed #42" in json.loads(meta.read_text())["alt_text"]


# ---------------------------------------------------------------- health and metrics


def test_health_reasons(tmp_path: Path) -> None:
    State(tmp_path / "s.db").close()
    assert health(0, 60, tmp_path / "s.db", now=lambda: 1000.0)[0] is False
    assert health(900, 60, tmp_path / "s.db", now=lambda: 1000.0) == (True, "ok")
    ok, reason = health(500, 60, tmp_path / "s.db", now=lambda: 1000.0)
    assert not ok and "500s ago" in reason
    locker = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        ok, reason = health(900, 60, tmp_path / "s.db", now=lambda: 1000.0)
    finally:
        locker.execute("ROLLBACK")
    assert not ok and "not writable" in reason


def test_metrics_and_health_after_a_run_against_mastodon_mock(tmp_path: Path,
                                                              tiny_weights: Path,
                                                              monkeypatch) -> None:
    mock = pytest.importorskip("mastodon_mock.testing")
    from mastodon import Mastodon
    from mastodon_mock.config import SeedAccount, SeedConfig

    from bot.platforms.mastodon import MastodonPlatform

    monkeypatch.chdir(tmp_path)
    seed = SeedConfig(accounts=[SeedAccount(username="bot", access_token="bot_token"),
                                SeedAccount(username="alice", access_token="alice_token")])
    with mock.MockServer(seed=seed) as srv:
        alice = Mastodon(access_token="alice_token", api_base_url=srv.base_url,
                         version_check_mode="none")
        alice.status_post("@bot create a human image")
        alice.status_post("@bot hello")
        settings = load_settings(platform="mastodon", weights_dir=tiny_weights,
                                 state_path=tmp_path / "s.db", daily_post_enabled=False,
                                 mastodon={"base_url": srv.base_url,
                                           "access_token": "bot_token"})
        metrics = Metrics()
        service = Service(settings, MastodonPlatform(settings.mastodon), make_artist(settings),
                          State(settings.state_path), Clock(), metrics=metrics)
        service.start()
        observer = ObserveServer(metrics, lambda: service.stats.last_poll,
                                 settings.poll_seconds, settings.state_path, 0).start()
        try:
            base = f"http://127.0.0.1:{observer.port}"
            assert requests.get(base + "/healthz", timeout=5).status_code == 503  # no poll yet
            service.cycle()
            health_reply = requests.get(base + "/healthz", timeout=5)
            scrape = requests.get(base + "/metrics", timeout=5).text
        finally:
            observer.stop()
    assert health_reply.status_code == 200 and health_reply.text.strip() == "ok"
    (tmp_path / "metrics.txt").write_text(scrape)
    values = dict(re.findall(r'^(bot_mentions_total\{status="\w+"\}) ([0-9.e+]+)$', scrape,
                             re.MULTILINE))
    assert float(values['bot_mentions_total{status="seen"}']) == 2
    assert float(values['bot_mentions_total{status="replied"}']) == 1
    assert float(values['bot_mentions_total{status="ignored"}']) == 1
    assert float(values['bot_mentions_total{status="failed"}']) == 0
    assert re.search(r"^bot_reply_latency_seconds_count 1\.0$", scrape, re.MULTILINE)
    assert re.search(r"^bot_generation_seconds_count 1\.0$", scrape, re.MULTILINE)
    assert re.search(r"^bot_last_successful_poll_timestamp_seconds [1-9]", scrape, re.MULTILINE)
    assert "bot_rate_limit_waits_total 0.0" in scrape


# ---------------------------------------------------------------- logs


def test_scrub_filter_removes_secrets_from_messages_and_tracebacks(capsys) -> None:
    setup_logging("json", ["sekret-token-123"])
    log = logging.getLogger("test.scrub")
    log.info("token is %s", "sekret-token-123", extra={"mention_id": "9"})
    try:
        raise RuntimeError("bad header Authorization: Bearer sekret-token-123")
    except RuntimeError:
        log.exception("request failed")
    err = capsys.readouterr().err
    assert "sekret-token-123" not in err
    lines = [json.loads(line) for line in err.strip().splitlines()]
    assert lines[0]["message"] == "token is ***" and lines[0]["mention_id"] == "9"
    assert "Bearer ***" in lines[1]["error"]
    logging.getLogger().handlers.clear()
    assert ScrubSecrets(["abc"]).secrets == []  # too short to scrub safely


def test_a_full_run_logs_json_without_any_secret(tmp_path: Path, tiny_weights: Path) -> None:
    mock = pytest.importorskip("mastodon_mock.testing")
    from mastodon import Mastodon
    from mastodon_mock.config import SeedAccount, SeedConfig

    token = "bot-access-token-4f9c2a"
    twitter = {"BOT_TWITTER__CONSUMER_KEY": "ck-secret-11111",
               "BOT_TWITTER__CONSUMER_SECRET": "cs-secret-22222",
               "BOT_TWITTER__ACCESS_TOKEN": "at-secret-33333",
               "BOT_TWITTER__ACCESS_TOKEN_SECRET": "ats-secret-44444",
               "BOT_TWITTER__BEARER_TOKEN": "bearer-secret-55555"}
    seed = SeedConfig(accounts=[SeedAccount(username="bot", access_token=token),
                                SeedAccount(username="alice", access_token="alice_token")])
    with mock.MockServer(seed=seed) as srv:
        Mastodon(access_token="alice_token", api_base_url=srv.base_url,
                 version_check_mode="none").status_post("@bot create a human image")
        env = clean_env()
        env.update(PYTHONPATH=str(REPO), BOT_PLATFORM="mastodon", BOT_LOG_FORMAT="json",
                   BOT_MASTODON__BASE_URL=srv.base_url, BOT_MASTODON__ACCESS_TOKEN=token,
                   BOT_WEIGHTS_DIR=str(tiny_weights), BOT_DAILY_POST_ENABLED="false",
                   **twitter)
        once = subprocess.run([sys.executable, "-m", "bot", "once"], capture_output=True,
                              text=True, cwd=tmp_path, env=env, timeout=120)
        env["BOT_MASTODON__ACCESS_TOKEN"] = token + "-revoked"  # a 401 and its error path
        bad = subprocess.run([sys.executable, "-m", "bot", "once"], capture_output=True,
                             text=True, cwd=tmp_path, env=env, timeout=120)
    assert once.returncode == 0, once.stderr
    assert bad.returncode == 78 and "refused the credentials" in bad.stderr
    log = once.stdout + once.stderr + bad.stdout + bad.stderr
    for secret in [token, *twitter.values()]:
        assert secret not in log
    events = [json.loads(line) for line in once.stderr.splitlines() if line.startswith("{")]
    assert any(e.get("status") == "replied" and e.get("mention_id") for e in events)
    assert all(set(e) >= {"time", "level", "logger", "message"} for e in events)

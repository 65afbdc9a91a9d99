"""Hardening: hostile text, locked or full state files, a server that goes away, bursts,
and what may be loaded or bound."""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import torch
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.cli.parts import make_artist
from bot.config import load_settings
from bot.conversation.commands import parse
from bot.platforms.base import Mention
from bot.platforms.local import LocalPlatform
from bot.service import Clock, Service
from bot.settings import DEFAULT_TRIGGERS
from bot.state.store import State
from model.errors import UserError
from model.nets.weights import WEIGHTS_FILE, load_generator
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import TINY, FakeClock

REPO = Path(__file__).resolve().parent.parent
TOKENS = [*"<>/=\"'&;# @pabrspn", "create a human image", "</p>", "<br>", "<p>", "&amp;",
          "\u202e", "\x00", "#nobot", "@bot"]
HTMLISH = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


# ---------------------------------------------------------------- the parser


@given(st.text(max_size=3000) | HTMLISH, st.booleans())
def test_parse_never_raises_and_only_matches_triggers(text: str, is_html: bool) -> None:
    request = parse(text, DEFAULT_TRIGGERS, is_html)
    # outside a reply to a picture: a trigger, or the two commands that work anywhere
    assert request is None or request.trigger in DEFAULT_TRIGGERS or request.command in (
        "like", "help")


@given(st.text(max_size=3000), st.text(max_size=200))
def test_a_trigger_surrounded_by_anything_spaced_is_found(before: str, after: str) -> None:
    # anywhere in the whole text: nothing before it, however long, hides it
    assert parse(f"{before} create a human image {after}", DEFAULT_TRIGGERS) is not None


# ---------------------------------------------------------------- the handling path



@pytest.fixture
def settings(bot_env: Path, tiny_weights: Path):
    tmp_path = bot_env
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [Seed(1, [0.1] * TINY.z_dim)]))
    return load_settings(weights_dir=tiny_weights, state_path=tmp_path / "state.db",
                         local={"inbox": tmp_path / "in", "outbox": tmp_path / "out",
                                "stdin": False}, daily_post_enabled=False,
                         user_limit_per_hour=0)


def service_for(settings, clock: Clock | None = None, busy_timeout: float = 30.0) -> Service:
    clock = clock or FakeClock()
    svc = Service(settings, LocalPlatform(settings.local, wake=clock.wake),
                  make_artist(settings), State(settings.state_path, clock.now, busy_timeout),
                  clock)
    svc.start()
    return svc


def a_mention(i: int, text: str, author: str = "alice") -> Mention:
    return Mention(id=str(i), author=author, author_id=author, author_is_bot=False,
                   author_bio="", text=text, is_html=True, visibility="public",
                   created_at=datetime.now(UTC))


@hsettings(max_examples=40, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=500) | HTMLISH, min_size=1, max_size=5),
       author=st.text(min_size=1, max_size=40))
def test_any_text_and_author_is_settled_and_writes_only_the_outbox(settings, texts, author
                                                                   ) -> None:
    svc = service_for(settings)
    base = uuid.uuid4().int % 10**15  # hypothesis seeds the random module: not that
    for i, text in enumerate(texts):
        record = svc.state.record("local", a_mention(base + i, text, author))
        svc.handle(record, None)
        after = svc.state.get("local", str(base + i))
        assert after.status in ("replied", "ignored")
        assert after.mention.text == text and after.mention.author == author  # stored verbatim
    outside = [p for p in Path(".").rglob("*") if p.is_file()
               and not str(p).startswith(("out", "state.db", "weights"))]
    assert outside == []
    svc.state.close()


def test_sql_and_paths_in_mentions_are_just_text(settings) -> None:
    svc = service_for(settings)
    evil = ["'); DROP TABLE mentions; -- create a human image",
            "../../../../etc/passwd create a human image", "create a human image seed #" +
            "9" * 400]
    for i, text in enumerate(evil):
        svc.handle(svc.state.record("local", a_mention(i, text, author="../../x'; --")), None)
    assert svc.state.counts("local") == {"replied": 3}
    assert all(p.parent == settings.local.outbox for p in settings.local.outbox.rglob("*"))


# ---------------------------------------------------------------- the state file


def test_a_locked_state_file_pauses_the_bot_and_it_recovers(settings, caplog) -> None:
    (settings.local.inbox).mkdir(parents=True, exist_ok=True)
    (settings.local.inbox / "a.txt").write_text("@alice create a human image")
    clock = FakeClock()
    svc = service_for(settings, clock, busy_timeout=0.2)
    locker = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3,sys; db=sqlite3.connect(sys.argv[1], "
         "isolation_level=None); db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); "
         "sys.stdin.read()", str(settings.state_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert locker.stdout.readline().strip() == "locked"

    def on_wait(n: int) -> None:
        if n == 1:  # the first back-off: the other process lets go
            locker.stdin.close()
            locker.wait(timeout=30)
        elif svc.state.counts("local").get("replied"):
            svc.request_stop()

    clock.on_wait = on_wait
    svc.run()
    assert "cannot be written" in caplog.text and "database is locked" in caplog.text
    assert svc.state.counts("local") == {"replied": 1}
    assert len(list(settings.local.outbox.glob("*.png"))) == 1


def test_a_full_disk_pauses_the_bot_and_nothing_is_lost(settings, caplog) -> None:
    settings.local.inbox.mkdir(parents=True, exist_ok=True)
    clock = FakeClock()
    svc = service_for(settings, clock)
    pages = svc.state.db.execute("PRAGMA page_count").fetchone()[0]
    svc.state.db.execute(f"PRAGMA max_page_count = {pages}")  # no room for one more page
    for i in range(40):
        (settings.local.inbox / f"m{i}.txt").write_text(f"@u{i} create a human image " + "x" *
                                                        300)

    def on_wait(n: int) -> None:
        if n == 1:
            svc.state.db.execute("PRAGMA max_page_count = 1000000")  # space freed
        elif svc.state.counts("local").get("replied") == 40:
            svc.request_stop()

    clock.on_wait = on_wait
    svc.run()
    assert "database or disk is full" in caplog.text
    assert svc.state.counts("local") == {"replied": 40}
    assert len(list(settings.local.outbox.glob("*.png"))) == 40


def test_once_on_a_locked_state_file_says_so_in_one_line(tmp_path: Path,
                                                         tiny_weights: Path) -> None:
    State(tmp_path / "s.db").close()
    locker = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    env = dict(os.environ)
    env.update(PYTHONPATH=str(REPO), BOT_WEIGHTS_DIR=str(tiny_weights),
               BOT_STATE_PATH=str(tmp_path / "s.db"), BOT_LOCAL__STDIN="false")
    try:
        result = subprocess.run([sys.executable, "-c",
                                 "import bot.state.store as s; s_init = s.State.__init__\n"
                                 "def fast(self, path, clock=None, busy_timeout=30.0):\n"
                                 "    import time; s_init(self, path, clock or time.time, 0.3)\n"
                                 "s.State.__init__ = fast\n"
                                 "import sys, bot.__main__ as m; sys.exit(m.main(['once']))"],
                                capture_output=True, text=True, cwd=tmp_path, env=env,
                                timeout=120)
    finally:
        locker.execute("ROLLBACK")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode in (75, 78) and len(errors) == 1
    assert "locked" in errors[0]


# ---------------------------------------------------------------- what is loaded and bound


def test_a_pickle_posing_as_weights_is_refused(tiny_weights: Path) -> None:
    torch.save({"evil": torch.zeros(1)}, tiny_weights / WEIGHTS_FILE)  # a pickle archive
    with pytest.raises(UserError, match="truncated or corrupt"):
        load_generator(tiny_weights)
    (tiny_weights / WEIGHTS_FILE).unlink()
    torch.save({"evil": 1}, tiny_weights / "generator.pt")  # never looked at
    with pytest.raises(UserError, match=r"no generator\.safetensors"):
        load_generator(tiny_weights)


def test_sql_is_parameterised_everywhere_in_the_bot() -> None:
    """No SQL text built from values: f-strings, % or + or .format() in an execute() call are
    refused, but for PRAGMA user_version, whose value is the bot's own schema number."""
    import ast

    built = []
    for path in sorted((REPO / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("execute", "executemany", "executescript")
                    and node.args):
                continue
            sql = node.args[0]
            formatted = isinstance(sql, ast.JoinedStr | ast.BinOp) or (
                isinstance(sql, ast.Call) and isinstance(sql.func, ast.Attribute)
                and sql.func.attr == "format")
            pragma = isinstance(sql, ast.JoinedStr) and isinstance(sql.values[0], ast.Constant) \
                and str(sql.values[0].value).startswith("PRAGMA user_version = ")
            if formatted and not pragma:
                built.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert built == []


def test_a_giant_or_negative_seed_id_is_one_line(bot_env: Path, tiny_weights: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from bot.__main__ import main

    monkeypatch.setenv("BOT_WEIGHTS_DIR", str(tiny_weights))
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [Seed(1, [0.0] * TINY.z_dim)]))
    for seed_id in ("9" * 40, "-5"):
        code = main(["generate", "--out", str(bot_env / "x.png"), "--seed-id", seed_id])
        err = capsys.readouterr().err.strip().splitlines()
        assert code != 0 and err[-1] == f"error: no seed #{int(seed_id)} in " \
            f"{tiny_weights / 'seeds.json'} (known: 1)"
    assert not (bot_env / "x.png").exists()


def test_the_explorer_binds_to_loopback_by_default() -> None:
    from model.explore import __main__ as explore

    assert explore.build_parser().parse_args([]).host == "127.0.0.1"
    assert explore._is_loopback("127.0.0.1") and explore._is_loopback("::1")
    assert explore._is_loopback("localhost") and not explore._is_loopback("0.0.0.0")


# ---------------------------------------------------------------- a server that goes away


def test_the_server_gone_for_minutes_then_back(tmp_path: Path, tiny_weights: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mastodon_mock")
    from mastodon import Mastodon
    from mastodon_mock.config import SeedAccount, SeedConfig
    from mastodon_mock.testing import MockServer

    from bot.platforms.mastodon import MastodonPlatform
    from tests.helpers import HoldingProxy

    monkeypatch.chdir(tmp_path)
    accounts = SeedConfig(accounts=[SeedAccount(username="bot", access_token="bot_token"),
                                    SeedAccount(username="alice", access_token="alice_token")])
    with MockServer(seed=accounts) as srv:
        proxy = HoldingProxy(srv.base_url)
        s = load_settings(platform="mastodon", weights_dir=tiny_weights,
                          state_path=tmp_path / "s.db", daily_post_enabled=False,
                          mastodon={"base_url": proxy.url, "access_token": "bot_token",
                                    "request_timeout": 2})
        clock = FakeClock()
        svc = Service(s, MastodonPlatform(s.mastodon), make_artist(s),
                      State(s.state_path, clock.now), clock)
        svc.start()
        mention = Mastodon(access_token="alice_token", api_base_url=srv.base_url,
                           version_check_mode="none").status_post("@bot create a human image")
        proxy.down.set()  # every connection is dropped: the server is gone
        waits = [svc.cycle() for _ in range(12)]  # twelve polls over the outage
        assert all(b >= a * 0.49 for a, b in itertools.pairwise(waits))
        assert max(waits) <= 15 * 60 and sum(waits) > 60  # backed off for minutes, capped
        for code in (502, 503):
            requests.post(srv.base_url + "/api/v1/_mock/faults", timeout=10, json={
                "match": {"methods": ["GET"], "path": "/api/v1/notifications"},
                "effect": {"type": "status", "status": code}, "count": 1})
        proxy.down.clear()
        svc.cycle()
        svc.cycle()  # the two injected 5xx
        svc.cycle()
        replies = [x for x in Mastodon(access_token="bot_token", api_base_url=srv.base_url,
                                       version_check_mode="none").status_context(
            mention["id"])["descendants"] if x["account"]["acct"] == "bot"]
        proxy.close()
    assert len(replies) == 1

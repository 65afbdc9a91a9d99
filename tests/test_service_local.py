"""The service on the local platform: real files, a real SQLite file, a real generator."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from bot.cli.parts import make_artist
from bot.config import load_settings
from bot.platforms.local import LocalPlatform
from bot.service import Clock, Service
from bot.state.store import State
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import TINY

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    save_seeds(tiny_weights / "seeds.json",
               SeedBook(TINY.z_dim, [Seed(1, [0.1] * TINY.z_dim, "a"),
                                     Seed(2, [-0.2] * TINY.z_dim, "b")]))
    return load_settings(weights_dir=tiny_weights, state_path=tmp_path / "state.db",
                         local={"inbox": tmp_path / "inbox", "outbox": tmp_path / "outbox",
                                "stdin": False},
                         daily_post_enabled=False)


def make_service(settings, clock: Clock | None = None) -> Service:
    clock = clock or Clock()
    platform = LocalPlatform(settings.local, wake=clock.wake, out=io.StringIO())
    state = State(settings.state_path, clock=clock.now)
    service = Service(settings, platform, make_artist(settings), state, clock)
    service.start()
    return service


def drop(settings, name: str, text: str) -> None:
    settings.local.inbox.mkdir(parents=True, exist_ok=True)
    (settings.local.inbox / f"{name}.txt").write_text(text)


def replies(settings) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(settings.local.outbox.glob("*.json"))]


def test_an_inbox_mention_gets_one_reply_with_alt_text(settings) -> None:
    drop(settings, "a", "@alice create a human image")
    drop(settings, "b", "@bob what a nice day")
    service = make_service(settings)
    service.cycle()
    service.cycle()  # a second poll answers nothing again
    out = replies(settings)
    assert len(out) == 1 and out[0]["to"] == "alice"
    assert "seed #" in out[0]["alt_text"] and out[0]["text"].startswith("@alice ")
    png = Image.open(settings.local.outbox / out[0]["image"])
    assert png.size == (256, 256)  # upscaled for viewing (8x the 32 px test model)
    counts = service.state.counts("local")
    assert counts == {"replied": 1, "ignored": 1}
    assert (settings.local.inbox / "answered" / "a.txt").is_file()


def test_the_same_request_id_draws_the_same_picture(settings) -> None:
    artist = make_artist(settings)
    a, b = artist.draw("mastodon:1"), artist.draw("mastodon:1")
    c = artist.draw("mastodon:2")
    assert a.data == b.data and a.seed_id == b.seed_id in (1, 2)
    assert a.data != c.data


def test_per_user_limit_sends_one_note_then_silence(settings) -> None:
    settings = settings.model_copy(update={"user_limit_per_hour": 3})
    for i in range(6):
        drop(settings, f"m{i}", "@alice create a human image")
    drop(settings, "other", "@bob create a human image")
    service = make_service(settings)
    service.cycle()
    out = replies(settings)
    to_alice = [r for r in out if r["to"] == "alice"]
    assert sum("image" in r for r in to_alice) == 3  # the limit
    notes = [r for r in to_alice if "image" not in r]
    assert len(notes) == 1 and "limit" in notes[0]["text"]
    assert sum(r["to"] == "bob" for r in out) == 1  # others are not affected
    assert service.state.counts("local") == {"replied": 4, "refused": 3}


def test_a_reply_found_after_a_crash_is_not_sent_again(settings) -> None:
    drop(settings, "a", "@alice create a human image")
    service = make_service(settings)
    service.cycle()
    [record] = [service.state.get("local", r["in_reply_to"]) for r in replies(settings)]
    # simulate a crash after posting but before the state recorded it
    service.state.db.execute("UPDATE mentions SET status = 'replying', reply_id = NULL")
    service.state.close()
    restarted = make_service(settings)
    restarted.cycle()
    assert len(replies(settings)) == 1
    rec = restarted.state.get("local", record.mention.id)
    assert rec.status == "replied" and rec.reason == "recovered"


def test_mentions_older_than_the_backlog_window_are_not_answered(settings) -> None:
    drop(settings, "old", "@alice create a human image")
    later = time.time() + 48 * 3600  # first start two days after the mention
    service = make_service(settings, Clock(now=lambda: later))
    service.cycle()
    assert replies(settings) == []
    [rec] = service.state.db.execute("SELECT status, reason FROM mentions").fetchall()
    assert tuple(rec) == ("ignored", "older than the backlog window")


def test_daily_post_once_per_day_across_restarts(settings) -> None:
    service = make_service(settings)
    assert service.daily_post() is not None
    assert service.daily_post() is None
    service.state.close()
    assert make_service(settings).daily_post() is None
    posts = list(settings.local.outbox.glob("post-*.png"))
    assert len(posts) == 1


def test_local_demo_in_a_subprocess(tmp_path: Path, tiny_weights: Path) -> None:
    env = dict(os.environ)
    # no daily post: between 09:00 and 10:00 UTC it would go out too (a second PNG)
    env.update(BOT_WEIGHTS_DIR=str(tiny_weights), PYTHONPATH=str(REPO),
               BOT_DAILY_POST_ENABLED="false")
    result = subprocess.run([sys.executable, "-m", "bot"], input="@alice create a human image\n",
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    pngs = list((tmp_path / "local" / "outbox").glob("*.png"))
    assert len(pngs) == 1 and str(pngs[0].name) in result.stdout
    assert "no good seeds" in result.stderr  # the tiny weights have none: one warning


def test_sigterm_finishes_and_exits_zero(tmp_path: Path, tiny_weights: Path) -> None:
    env = dict(os.environ)
    env.update(BOT_WEIGHTS_DIR=str(tiny_weights), PYTHONPATH=str(REPO),
               BOT_DAILY_POST_ENABLED="false")
    proc = subprocess.Popen([sys.executable, "-m", "bot"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=env)
    proc.stdin.write("@alice create a human image\n")
    proc.stdin.flush()
    line = proc.stdout.readline()  # blocks until the reply is written
    assert line.startswith("reply to @alice")
    proc.send_signal(signal.SIGTERM)  # stdin is still open: only the signal can stop it
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "SIGTERM" in err


def test_bad_settings_exit_with_one_line_each(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(BOT_PLATFORM="myspace", BOT_SIGMA="x", PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", "bot", "check"], capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 78
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and "BOT_PLATFORM" in result.stderr


def test_generate_writes_a_png(tmp_path: Path, tiny_weights: Path) -> None:
    env = dict(os.environ)
    env.update(BOT_WEIGHTS_DIR=str(tiny_weights), PYTHONPATH=str(REPO))
    out = tmp_path / "x.png"
    result = subprocess.run([sys.executable, "-m", "bot", "generate", "--out", str(out),
                             "--request-id", "r1"], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == (256, 256)  # whatever the model size, replies are 256 px


def test_daily_post_is_due_at_the_local_time_once_a_day(settings) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.conversation.decision import DAILY_GRACE, daily_due_at

    settings = settings.model_copy(update={"daily_post_enabled": True,
                                           "daily_post_time": "07:30",
                                           "timezone": "Asia/Tokyo"})
    tokyo = ZoneInfo("Asia/Tokyo")

    def at(day: int, hour: int, minute: int = 0) -> float:
        return datetime(2026, 11, day, hour, minute, tzinfo=tokyo).timestamp()

    nothing_posted = lambda day: False  # noqa: E731
    assert daily_due_at(at(24, 6), settings, nothing_posted) == (at(24, 7, 30), "2026-11-24")
    # started 40 minutes late (a restart, an outage): today's post is due now, once
    assert daily_due_at(at(24, 8, 10), settings, nothing_posted) == (at(24, 7, 30),
                                                                     "2026-11-24")
    # later than the grace: today's is skipped, tomorrow's is next
    assert DAILY_GRACE == 3600
    assert daily_due_at(at(24, 9), settings, nothing_posted) == (at(25, 7, 30), "2026-11-25")
    # made (or in doubt) today: tomorrow's
    assert daily_due_at(at(24, 8), settings, lambda day: day == "2026-11-24") == (
        at(25, 7, 30), "2026-11-25")
    # a failed post tried again ten minutes later, but never past the grace
    assert daily_due_at(at(24, 7, 31), settings, nothing_posted, at(24, 7, 41)) == (
        at(24, 7, 41), "2026-11-24")
    assert daily_due_at(at(24, 8, 25), settings, nothing_posted, at(24, 8, 35))[1] == \
        "2026-11-25"
    off = settings.model_copy(update={"daily_post_enabled": False})
    assert daily_due_at(at(24, 6), off, nothing_posted) is None


def test_authors_take_turns_in_a_burst(settings) -> None:
    from bot.service.polling import round_robin
    from bot.state.records import Record
    from tests.helpers import mention

    records = [Record(mention(i, author), "seen", 0, 0.0, None, None)
               for i, author in enumerate(["a", "a", "a", "b", "c", "c", "b"])]
    order = [(r.mention.author, r.mention.id) for r in round_robin(records)]
    assert order == [("a", "0"), ("b", "3"), ("c", "4"), ("a", "1"), ("b", "6"), ("c", "5"),
                     ("a", "2")]


@pytest.mark.parametrize(("bad", "answered"), [
    (b"@alice caf\xe9 create a human image\n", ["alice", "bob"]),  # Latin-1
    ("@alice 人間の画像を作って\n".encode("shift_jis"), ["bob"]),  # mojibake: no trigger left
    (b"@alice \xff\xfe\x00\x01 create a human image\n", ["alice", "bob"]),  # binary
], ids=["latin-1", "shift-jis", "binary"])
def test_a_line_that_is_not_utf8_does_not_stop_the_bot(tmp_path: Path, tiny_weights: Path,
                                                       bad: bytes, answered: list[str]) -> None:
    env = dict(os.environ)
    env.update(BOT_WEIGHTS_DIR=str(tiny_weights), PYTHONPATH=str(REPO),
               BOT_DAILY_POST_ENABLED="false")
    result = subprocess.run([sys.executable, "-m", "bot"],
                            input=bad + b"@bob create a human image\n", capture_output=True,
                            cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    out = [json.loads(p.read_text(encoding="utf-8"))
           for p in sorted((tmp_path / "local" / "outbox").glob("*.json"))]
    assert [r["to"] for r in out if "image" in r] == answered
    assert (tmp_path / "local" / "outbox" / out[-1]["image"]).is_file()


def _reply_for(settings, mention_file: str) -> dict:
    """The outbox JSON of the reply to an inbox file's mention."""
    found = [r for r in replies(settings) if r.get("in_reply_to", "").startswith(
        f"file-{mention_file}-") and "images" in r]
    assert len(found) == 1, found
    return found[0]


def test_a_conversation_on_the_local_platform(settings) -> None:
    """re:ID answers a picture: more like this, morph and delete work without any account."""
    service = make_service(settings)
    drop(settings, "first", "@alice create a human image")
    service.cycle()
    first = _reply_for(settings, "first")
    shown = service.platform._out.getvalue()
    assert f"re:{first['id']}" in shown  # the outbox line names the id to answer

    drop(settings, "more", f"@alice re:{first['id']} more like this")
    service.cycle()
    four = _reply_for(settings, "more")
    assert len(four["images"]) == 4 and len(set(four["alt_texts"])) == 4
    for name in four["images"]:
        assert Image.open(settings.local.outbox / name).size == (256, 256)
    assert {p.parent_post_id for p in service.state.pictures_of("local", four["id"])} == {
        first["id"]}

    drop(settings, "morph", f"@alice re:{four['id']} morph")
    service.cycle()
    morph = _reply_for(settings, "morph")
    gif = Image.open(settings.local.outbox / morph["image"])
    assert gif.format == "GIF" and gif.n_frames > 8

    drop(settings, "theirs", f"@bob re:{first['id']} delete")
    drop(settings, "mine", f"@alice re:{first['id']} delete")
    service.cycle()
    assert not (settings.local.outbox / first["image"]).exists()
    assert (settings.local.outbox / "deleted" / first["image"]).is_file()
    assert service.state.get("local", next(
        r.mention.id for r in [service.state.get("local", m) for m in _ids(service)]
        if r.mention.author == "bob" and "delete" in r.mention.text)).status == "ignored"
    assert (settings.local.outbox / four["images"][0]).is_file()  # only that post went


def _ids(service) -> list[str]:
    return [row[0] for row in service.state.db.execute("SELECT id FROM mentions")]


def test_a_delete_request_file_is_tidied_and_not_read_again(settings) -> None:
    """A settled "delete" moves its inbox file to answered/, as every other settled mention
    does: left in the inbox, every poll read it again."""
    service = make_service(settings)
    drop(settings, "first", "@alice create a human image")
    service.cycle()
    first = _reply_for(settings, "first")
    drop(settings, "gone", f"@alice re:{first['id']} delete")
    service.cycle()
    assert (settings.local.outbox / "deleted" / first["image"]).is_file()
    assert sorted(p.name for p in settings.local.inbox.glob("*.txt")) == []
    assert (settings.local.inbox / "answered" / "gone.txt").is_file()
    assert service.platform.fetch_mentions(service.state.cursor("local"), None) == []


def test_the_daily_post_is_recorded_all_or_nothing(settings) -> None:
    """Marking the day posted, counting its upload and remembering its picture are one
    transaction. The picture cannot be stored here (a trigger refuses it, as a failing disk
    would): then nothing of it is, and the day stays claimed (in doubt: never posted twice),
    instead of a day marked posted whose picture nobody can favourite or ask more of."""
    import sqlite3

    service = make_service(settings)
    service.state.db.execute("CREATE TRIGGER refuse BEFORE INSERT ON pictures "
                             "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    day = service.today()
    with pytest.raises(sqlite3.Error, match="disk I/O error"):
        service.daily_post()
    assert service.state.daily("local", day)["status"] == "posting"
    assert service.state.uploads_since("local", 0) == []
    assert service.daily_post() is None  # claimed: not posted a second time
    assert len(list(settings.local.outbox.glob("post-*.png"))) == 1

"""The SQLite state store: statuses, cursors, quotas, daily posts, schema migration."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.platforms.base import Mention
from bot.state import SCHEMA_VERSION, State, StateError


def mention(i: int, author: str = "alice") -> Mention:
    return Mention(id=str(i), author=author, author_id=author, author_is_bot=False,
                   author_bio="", text="create a human image", is_html=False,
                   visibility="public", created_at=datetime(2026, 11, 1, tzinfo=UTC),
                   cursor=str(1000 + i))


class FakeTime:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def test_a_mention_is_recorded_once_and_keeps_its_status(tmp_path: Path) -> None:
    s = State(tmp_path / "s.db")
    assert s.record("mastodon", mention(1)).status == "seen"
    s.start_reply("mastodon", "1")
    again = s.record("mastodon", mention(1))  # fetched again: nothing is reset
    assert again.status == "replying" and again.attempts == 1
    s.settle("mastodon", "1", "replied", reply_id="r1", seed_id=3)
    s.close()
    reopened = State(tmp_path / "s.db")  # survives a restart
    rec = reopened.get("mastodon", "1")
    assert rec.status == "replied" and rec.reply_id == "r1"
    assert rec.mention == mention(1)
    assert reopened.pending("mastodon") == []


def test_pending_and_counts_are_per_platform(tmp_path: Path) -> None:
    s = State(tmp_path / "s.db")
    s.record("mastodon", mention(1))
    s.record("twitter", mention(1))
    s.settle("twitter", "1", "ignored", "no trigger phrase")
    assert [r.mention.id for r in s.pending("mastodon")] == ["1"]
    assert s.counts("twitter") == {"ignored": 1}


def test_replies_per_user_window(tmp_path: Path) -> None:
    clock = FakeTime()
    s = State(tmp_path / "s.db", clock=clock)
    for i in range(3):
        s.record("m", mention(i))
        s.settle("m", str(i), "replied", reply_id=f"r{i}")
        clock.t += 600
    assert s.replies_since("m", "alice", clock.t - 3600) == 3
    assert s.replies_since("m", "alice", clock.t - 1000) == 1
    assert s.replies_since("m", "bob", 0) == 0
    assert s.oldest_reply_since("m", "alice", clock.t - 3600) == 1_000_000.0


def test_daily_post_is_claimed_once_per_day(tmp_path: Path) -> None:
    s = State(tmp_path / "s.db")
    assert s.claim_daily("m", "2026-11-22")
    assert not s.claim_daily("m", "2026-11-22")
    s.release_daily("m", "2026-11-22")  # not posted: may be claimed again
    assert s.claim_daily("m", "2026-11-22")
    s.finish_daily("m", "2026-11-22", "p1")
    s.release_daily("m", "2026-11-22")  # a finished post is never released
    assert not s.claim_daily("m", "2026-11-22")
    assert s.daily("m", "2026-11-22")["post_id"] == "p1"


def test_cursor_and_first_start(tmp_path: Path) -> None:
    s = State(tmp_path / "s.db")
    assert s.cursor("m") is None
    s.set_cursor("m", "42")
    assert s.cursor("m") == "42"
    assert s.first_start(100.0) == 100.0
    assert s.first_start(200.0) == 100.0  # fixed at the first call


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    s = State(tmp_path / "s.db")
    assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.schema_version == SCHEMA_VERSION
    assert s.writable()


def test_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    State(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StateError, match="newer than this bot's"):
        State(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_database_gives_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="cannot be used") as err:
        State(path)
    assert "\n" not in str(err.value)


def test_migrations_run_forward_from_an_older_file(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.state as st

    path = tmp_path / "s.db"
    State(path).close()  # a file at version 1
    monkeypatch.setattr(st, "MIGRATIONS", [*st.MIGRATIONS,
                                           "ALTER TABLE mentions ADD COLUMN lang TEXT"])
    monkeypatch.setattr(st, "SCHEMA_VERSION", len(st.MIGRATIONS))
    s = st.State(path)
    assert s.schema_version == len(st.MIGRATIONS)
    cols = [r[1] for r in s.db.execute("PRAGMA table_info(mentions)")]
    assert "lang" in cols

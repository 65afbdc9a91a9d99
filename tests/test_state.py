"""The SQLite state store: statuses, cursors, quotas, daily posts, schema migration."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from bot.state.errors import StateError, unwritable_reason
from bot.state.schema import SCHEMA_VERSION
from bot.state.store import State
from tests.helpers import mention


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
    assert _schema(s) == SCHEMA_VERSION
    assert unwritable_reason(tmp_path / "s.db") is None
    locker = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the file
    reason = unwritable_reason(tmp_path / "s.db", timeout=0.1)
    assert reason is not None and "s.db" in reason and "locked" in reason
    locker.execute("ROLLBACK")


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
    import bot.state.store as st

    path = tmp_path / "s.db"
    State(path).close()  # a file at version 1
    monkeypatch.setattr(st, "MIGRATIONS", [*st.MIGRATIONS,
                                           "ALTER TABLE mentions ADD COLUMN lang TEXT"])
    monkeypatch.setattr(st, "SCHEMA_VERSION", len(st.MIGRATIONS))
    s = st.State(path)
    assert _schema(s) == len(st.MIGRATIONS)
    cols = [r[1] for r in s.db.execute("PRAGMA table_info(mentions)")]
    assert "lang" in cols


def test_a_state_file_of_schema_one_migrates_in_place(tmp_path: Path) -> None:
    """A bot from before conversations left mentions whose payload has no in_reply_to_id and
    replies with no pictures recorded: they load, and each old reply counts as one picture."""
    import json

    from bot.state import store as st

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(st.MIGRATIONS[0] + "PRAGMA user_version = 1;")
    old_payload = {"id": "5", "author": "alice", "author_id": "a", "author_is_bot": False,
                   "author_bio": "", "text": "create a human image", "is_html": False,
                   "visibility": "public", "created_at": "2026-11-01T00:00:00+00:00",
                   "cursor": "1005"}
    db.execute("INSERT INTO mentions (platform, id, author, author_id, status, reply_id, "
               "payload, seen_at, updated_at, replied_at) VALUES ('mastodon', '5', 'alice', "
               "'a', 'replied', 'r5', ?, 10, 10, 10)", (json.dumps(old_payload),))
    db.commit()
    db.close()

    s = State(path, clock=FakeTime())
    assert _schema(s) == SCHEMA_VERSION >= 2
    record = s.get("mastodon", "5")
    assert record.status == "replied" and record.mention.in_reply_to_id == ""
    assert s.replies_since("mastodon", "a", 0) == 1
    assert s.pictures_of("mastodon", "r5") == []  # its latent was never stored
    s.close()


def test_a_state_file_of_schema_two_keeps_its_mentions_in_flight(tmp_path: Path) -> None:
    """A bot from before posts on their way were kept left a reply in doubt (replying) and a
    mention waiting for the budget (seen, due later). Both stay pending, neither has a post
    on its way (the first is looked for, the second decided afresh), and from then on a post
    on its way is kept until its mention is settled, its cost counted with the settling."""
    import json

    from bot.platforms.base import Uploaded
    from bot.state import store as st
    from bot.state.records import Outgoing, Picture

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(st.MIGRATIONS[0] + st.MIGRATIONS[1] + "PRAGMA user_version = 2;")
    for mid, status, due, reason in (("5", "replying", 0, "attempt 1 failed"),
                                     ("6", "seen", 5000, "waiting for the media budget")):
        payload = json.dumps({"id": mid, "author": "alice", "author_id": "a",
                              "author_is_bot": False, "author_bio": "", "is_html": False,
                              "text": "create a human image", "visibility": "public",
                              "created_at": "2026-11-01T00:00:00+00:00", "cursor": mid})
        db.execute("INSERT INTO mentions (platform, id, author, author_id, status, attempts, "
                   "next_attempt_at, reason, payload, seen_at, updated_at) VALUES "
                   "('twitter', ?, 'alice', 'a', ?, 1, ?, ?, ?, 10, 10)",
                   (mid, status, due, reason, payload))
    db.commit()
    db.close()

    clock = FakeTime()
    s = State(path, clock=clock)
    assert _schema(s) == SCHEMA_VERSION >= 3
    pending = {r.mention.id: r for r in s.pending("twitter")}
    assert set(pending) == {"5", "6"} and pending["6"].next_attempt_at == 5000
    assert s.outgoing("twitter", "5") is None and s.outgoing("twitter", "6") is None

    out = Outgoing("reply", "picture", "@alice here", (Picture(
        "", "picture", [0.5, -0.5], 7, 0.5, mention_id="6", for_author_id="a"),),
        Uploaded(("m1",), ("m1",), 5.0), uploaded_at=clock.t)
    s.save_outgoing("twitter", "6", out)
    assert s.replies_since("twitter", "a", 0) == 1  # on its way: within alice's limit
    s.start_reply("twitter", "6", out)
    s.close()
    s = State(path, clock=clock)  # survives a restart
    assert s.outgoing("twitter", "6") == out and s.get("twitter", "6").status == "replying"
    s.settle("twitter", "6", "replied", reply_id="p6",
             pictures=[replace(p, post_id="p6") for p in out.pictures], uploads=1)
    assert s.outgoing("twitter", "6") is None
    assert s.uploads_since("twitter", 0) == [clock.t]
    assert s.replies_since("twitter", "a", 0) == 1  # sent now, counted once
    s.close()


def test_pictures_reactions_and_the_popular_order(tmp_path: Path) -> None:
    from bot.platforms.base import Reaction
    from bot.state.records import Picture

    clock = FakeTime()
    s = State(tmp_path / "s.db", clock=clock)
    s.record(("mastodon"), mention(1))
    s.settle("mastodon", "1", "replied", reply_id="p1", pictures=[
        Picture("p1", "variation", [0.5, -0.5], 7, 0.25, idx=i, mention_id="1",
                for_author_id="alice") for i in range(4)])
    assert s.replies_since("mastodon", "alice", 0) == 4  # four pictures, one mention
    s.record_pictures("mastodon", [Picture("p2", "daily", [1.0, 1.0], 8, 0.5)])
    new = s.record_reactions("mastodon", [
        Reaction("n1", "favourite", "p2", "bob"), Reaction("n2", "reblog", "p2", "carol"),
        Reaction("n3", "favourite", "p1", "bob"), Reaction("n1", "favourite", "p2", "bob"),
        Reaction("n4", "favourite", "not-mine", "bob")])
    assert new == 3  # n1 once, and nothing for a post that is not one of the bot's pictures
    assert s.record_reactions("mastodon", [Reaction("n3", "favourite", "p1", "bob")]) == 0
    order = [(p.post_id, p.idx, p.favourites, p.boosts) for p in s.popular("mastodon")]
    assert order[0] == ("p2", 0, 1, 1) and order[1:] == [("p1", i, 1, 0) for i in range(4)]
    s.mark_deleted("mastodon", "p2")
    assert [p.post_id for p in s.popular("mastodon")] == ["p1"] * 4
    assert s.popular("mastodon", since=clock.t + 1) == []
    s.close()


def _schema(state: State) -> int:
    return state.db.execute("PRAGMA user_version").fetchone()[0]

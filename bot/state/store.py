"""The store: the one connection to the state file and every question and change the
service makes of it (see bot.state.schema for the lifecycle of a mention).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

from bot.platforms.base import Mention, Reaction, Uploaded
from bot.state.errors import StateError, disk_full, unusable_reason
from bot.state.records import (
    Outgoing,
    Picture,
    Record,
    mention_from_json,
    mention_json,
)
from bot.state.schema import MIGRATIONS, SCHEMA_VERSION, SETTLED, Status, Wait


# rows -> records: the store's side of the records (the pure side never sees a row)
def outgoing_from_row(row: sqlite3.Row) -> Outgoing:
    up = json.loads(row["uploaded"]) if row["uploaded"] else None
    return Outgoing(row["kind"], row["reason"], row["text"],
                    tuple(Picture(**p) for p in json.loads(row["pictures"])),
                    None if up is None else Uploaded(tuple(up["ids"]), tuple(up["waiting"]),
                                                     up["check_in"], up["checks"]),
                    row["uploaded_at"])


PICTURE_COLUMNS = ("post_id", "idx", "kind", "mention_id", "for_author_id", "seed_id", "sigma",
                    "z", "parent_post_id", "morph_to", "url", "created_at", "deleted_at",
                    "classes")


def picture_from_row(row: sqlite3.Row) -> Picture:
    d = {k: row[k] for k in PICTURE_COLUMNS}
    d["z"] = json.loads(d["z"])
    d["classes"] = None if d["classes"] is None else json.loads(d["classes"])
    keys = row.keys()
    return Picture(**d, favourites=row["favourites"] if "favourites" in keys else 0,
                   boosts=row["boosts"] if "boosts" in keys else 0)


class State:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time,
                 busy_timeout: float = 30.0):
        self.path = Path(path)
        self.clock = clock
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit mode: each statement commits unless inside an explicit BEGIN
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a recorded reply survives power loss
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(unusable_reason(self.path, exc),
                             transient=disk_full(self.path.parent, exc)) from None
        except OSError as exc:
            raise StateError(f"state file {self.path} cannot be created ({exc}); set "
                             "BOT_STATE_PATH to a writable place") from None

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------ schema

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(f"state file {self.path} has schema {version}, newer than this "
                             f"bot's {SCHEMA_VERSION}; upgrade the bot or restore a backup")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[target - 1].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {target}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------ mentions

    def record(self, platform: str, m: Mention) -> Record:
        """Insert the mention as seen unless it is known; return its record either way."""
        now = self.clock()
        cur = self.db.execute(
            "INSERT OR IGNORE INTO mentions (platform, id, author, author_id, status, payload, "
            "seen_at, updated_at) VALUES (?, ?, ?, ?, 'seen', ?, ?, ?)",
            (platform, m.id, m.author, m.author_id, mention_json(m), now, now))
        record = self.get(platform, m.id)
        assert record is not None
        return replace(record, new=cur.rowcount == 1)

    def get(self, platform: str, mention_id: str) -> Record | None:
        row = self.db.execute("SELECT * FROM mentions WHERE platform = ? AND id = ?",
                              (platform, mention_id)).fetchone()
        return self._record(row) if row else None

    @staticmethod
    def _record(row: sqlite3.Row) -> Record:
        wait = row["waiting_for"]
        return Record(mention_from_json(row["payload"]), Status(row["status"]), row["attempts"],
                      row["next_attempt_at"], row["reply_id"], row["reason"],
                      waiting_for=Wait(wait) if wait in set(Wait) else None)

    def pending(self, platform: str) -> list[Record]:
        rows = self.db.execute(
            "SELECT * FROM mentions WHERE platform = ? AND status IN ('seen', 'replying')",
            (platform,)).fetchall()
        return [self._record(r) for r in rows]

    def settle(self, platform: str, mention_id: str, status: Status, reason: str | None = None,
               reply_id: str | None = None, seed_id: int | None = None,
               pictures: list[Picture] | None = None, uploads: int = 0) -> None:
        """Move a mention to a final status (replied, ignored, refused or failed). A reply
        records the pictures it carried in the same transaction: none is ever remembered
        for a mention that is not, nor the other way round. pictures=None: one picture
        (a reply found again after a crash, its latent unknown); []: none (help, delete).
        uploads: what the post cost against the platform's budget, counted in the same
        transaction (never twice, never lost). Its outgoing post is done with."""
        assert status in SETTLED, status
        now = self.clock()
        count = 1 if pictures is None else len(pictures)
        with self._transaction():
            self._insert_uploads(platform, uploads, now)
            self.db.execute("DELETE FROM outgoing WHERE platform = ? AND mention_id = ?",
                            (platform, mention_id))
            self.db.execute(
                "UPDATE mentions SET status = ?, reason = ?, reply_id = COALESCE(?, reply_id), "
                "seed_id = COALESCE(?, seed_id), updated_at = ?, pictures = ?, "
                "replied_at = CASE WHEN ? = 'replied' THEN ? ELSE replied_at END "
                "WHERE platform = ? AND id = ?",
                (status, reason, reply_id, seed_id, now, count if status == Status.REPLIED else 0,
                 status, now, platform, mention_id))
            self._insert_pictures(platform, pictures or [], now)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def start_reply(self, platform: str, mention_id: str,
                    outgoing: Outgoing | None = None) -> None:
        """Mark that a post (reply or note) is about to be sent, with what it is: from here on,
        look before retrying. Counts as an attempt."""
        with self._transaction():
            if outgoing is not None:
                self._save_outgoing(platform, mention_id, outgoing)
            self.db.execute("UPDATE mentions SET status = 'replying', waiting_for = NULL, "
                            "attempts = attempts + 1, updated_at = ? "
                            "WHERE platform = ? AND id = ?", (self.clock(), platform, mention_id))

    # ------------------------------------------------------------ posts on their way

    def _save_outgoing(self, platform: str, mention_id: str, out: Outgoing) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO outgoing (platform, mention_id, kind, reason, text, "
            "pictures, uploaded, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (platform, mention_id, out.kind, out.reason, out.text,
             json.dumps([asdict(p) for p in out.pictures]),
             None if out.uploaded is None else json.dumps(asdict(out.uploaded)),
             out.uploaded_at))

    def save_outgoing(self, platform: str, mention_id: str, out: Outgoing,
                      uploads: int = 0) -> None:
        """Keep (or update) a post on its way; uploads: what its upload cost against the
        platform's budget, counted in the same transaction."""
        with self._transaction():
            self._save_outgoing(platform, mention_id, out)
            self._insert_uploads(platform, uploads, self.clock())

    def outgoing(self, platform: str, mention_id: str) -> Outgoing | None:
        row = self.db.execute("SELECT * FROM outgoing WHERE platform = ? AND mention_id = ?",
                              (platform, mention_id)).fetchone()
        return outgoing_from_row(row) if row else None

    def drop_outgoing(self, platform: str, mention_id: str) -> None:
        """Forget a post on its way (its upload expired or never finished processing): the
        next attempt decides and uploads afresh."""
        self.db.execute("DELETE FROM outgoing WHERE platform = ? AND mention_id = ?",
                        (platform, mention_id))

    def count_attempt(self, platform: str, mention_id: str) -> None:
        """An attempt that failed before anything reached the platform."""
        self.db.execute("UPDATE mentions SET attempts = attempts + 1, updated_at = ? "
                        "WHERE platform = ? AND id = ?", (self.clock(), platform, mention_id))

    def retry_later(self, platform: str, mention_id: str, delay: float, reason: str,
                    wait: Wait | None = None) -> None:
        """Due again in `delay` seconds; reason: why, in words; wait: what for."""
        self.db.execute("UPDATE mentions SET next_attempt_at = ?, reason = ?, waiting_for = ?, "
                        "updated_at = ? WHERE platform = ? AND id = ?",
                        (self.clock() + delay, reason, None if wait is None else str(wait),
                         self.clock(), platform, mention_id))

    def counts(self, platform: str) -> dict[str, int]:
        rows = self.db.execute("SELECT status, COUNT(*) AS n FROM mentions WHERE platform = ? "
                               "GROUP BY status", (platform,)).fetchall()
        return {r["status"]: r["n"] for r in rows}

    # ------------------------------------------------------------ per-user limits

    def replies_since(self, platform: str, author_id: str, since: float) -> int:
        """Pictures sent to this author since then (four for variations, none for help), and
        those on their way to them: a reply retried after a failed post counts from the
        moment it was decided, so the author's mentions decided meanwhile stay within the
        limit."""
        sent = self.db.execute(
            "SELECT COALESCE(SUM(pictures), 0) FROM mentions WHERE platform = ? AND "
            "author_id = ? AND status = 'replied' AND replied_at >= ?",
            (platform, author_id, since)).fetchone()[0]
        on_their_way = self.db.execute(
            "SELECT COALESCE(SUM(json_array_length(o.pictures)), 0) FROM outgoing o "
            "JOIN mentions m ON m.platform = o.platform AND m.id = o.mention_id "
            "WHERE o.platform = ? AND m.author_id = ? AND o.kind = 'reply'",
            (platform, author_id)).fetchone()[0]
        return sent + on_their_way

    def oldest_reply_since(self, platform: str, author_id: str, since: float) -> float | None:
        return self.db.execute(
            "SELECT MIN(replied_at) FROM mentions WHERE platform = ? AND author_id = ? AND "
            "status = 'replied' AND pictures > 0 AND replied_at >= ?",
            (platform, author_id, since)).fetchone()[0]

    def last_note(self, platform: str, author_id: str) -> float | None:
        row = self.db.execute("SELECT noted_at FROM notes WHERE platform = ? AND author_id = ?",
                              (platform, author_id)).fetchone()
        return row[0] if row else None

    def record_note(self, platform: str, author_id: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO notes (platform, author_id, noted_at) "
                        "VALUES (?, ?, ?)", (platform, author_id, self.clock()))

    def last_help(self, platform: str, author_id: str) -> float | None:
        row = self.db.execute("SELECT at FROM helps WHERE platform = ? AND author_id = ?",
                              (platform, author_id)).fetchone()
        return row[0] if row else None

    def record_help(self, platform: str, author_id: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO helps (platform, author_id, at) VALUES (?, ?, ?)",
                        (platform, author_id, self.clock()))

    # ------------------------------------------------------------ pictures and the garden

    def _insert_pictures(self, platform: str, pictures: list[Picture], now: float) -> None:
        for p in pictures:
            self.db.execute(
                "INSERT OR REPLACE INTO pictures (platform, post_id, idx, kind, mention_id, "
                "for_author_id, seed_id, sigma, z, parent_post_id, morph_to, url, created_at, "
                "classes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (platform, p.post_id, p.idx, p.kind, p.mention_id, p.for_author_id, p.seed_id,
                 p.sigma, json.dumps([round(float(v), 6) for v in p.z]), p.parent_post_id,
                 p.morph_to, p.url, p.created_at or now,
                 None if p.classes is None else json.dumps(dict(p.classes), ensure_ascii=False)))

    def record_pictures(self, platform: str, pictures: list[Picture]) -> None:
        """Pictures of a post that answers no mention (the daily post)."""
        with self._transaction():
            self._insert_pictures(platform, pictures, self.clock())

    def pictures_of(self, platform: str, post_id: str) -> list[Picture]:
        """The pictures a post carries, in order (empty: not a picture of the bot's)."""
        rows = self.db.execute(
            "SELECT * FROM counted_pictures WHERE platform = ? AND post_id = ? ORDER BY idx",
            (platform, post_id)).fetchall()
        return [picture_from_row(r) for r in rows]

    def mark_deleted(self, platform: str, post_id: str) -> None:
        self.db.execute("UPDATE pictures SET deleted_at = COALESCE(deleted_at, ?) "
                        "WHERE platform = ? AND post_id = ?", (self.clock(), platform, post_id))

    def record_reactions(self, platform: str, reactions: list[Reaction]) -> int:
        """Favourites and boosts, each counted once (by the platform's notification id), and
        only for the bot's own pictures. Returns how many were new."""
        new = 0
        with self._transaction():
            for r in reactions:
                if r.kind not in ("favourite", "reblog"):
                    continue
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO reactions (platform, id, kind, post_id, account_id, at)"
                    " SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM pictures WHERE "
                    "platform = ? AND post_id = ?)",
                    (platform, r.id, r.kind, r.post_id, r.account_id, self.clock(), platform,
                     r.post_id))
                new += cur.rowcount
        return new

    def popular(self, platform: str | None = None, since: float = 0.0,
                until: float = float("inf"), limit: int = 20) -> list[Picture]:
        """The bot's pictures made in [since, until), most favourited first (then boosted,
        then newest), those with no favourite or boost left out; deleted ones too."""
        rows = self.db.execute(
            "SELECT * FROM counted_pictures WHERE (? IS NULL OR platform = ?) AND "
            "created_at >= ? AND created_at < ? AND deleted_at IS NULL AND "
            "favourites + boosts > 0 "
            "ORDER BY favourites DESC, boosts DESC, created_at DESC, idx LIMIT ?",
            (platform, platform, since, min(until, 1e18), limit)).fetchall()
        return [picture_from_row(r) for r in rows]

    # ------------------------------------------------------------ cursors

    def first_start(self, now: float) -> float:
        """When this state file was first used by a running bot (set on the first call)."""
        self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('first_start', ?)",
                        (repr(now),))
        return float(self.db.execute("SELECT value FROM meta WHERE key = 'first_start'"
                                     ).fetchone()[0])

    def cursor(self, platform: str) -> str | None:
        row = self.db.execute("SELECT since_id FROM cursors WHERE platform = ?",
                              (platform,)).fetchone()
        return row[0] if row else None

    def set_cursor(self, platform: str, since_id: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO cursors (platform, since_id, updated_at) "
                        "VALUES (?, ?, ?)", (platform, since_id, self.clock()))

    # ------------------------------------------------------------ uploads (pacing)

    def record_upload(self, platform: str, count: int = 1) -> None:
        """count: what the platform's budget counts (Mastodon: four for a variations reply;
        X: one post, whatever it carries)."""
        with self._transaction():
            self._insert_uploads(platform, count, self.clock())

    def _insert_uploads(self, platform: str, count: int, now: float) -> None:
        if count <= 0:
            return
        self.db.executemany("INSERT INTO uploads (platform, at) VALUES (?, ?)",
                            [(platform, now)] * count)
        self.db.execute("DELETE FROM uploads WHERE platform = ? AND at < ?",
                        (platform, now - 7 * 86400))

    def uploads_since(self, platform: str, since: float) -> list[float]:
        rows = self.db.execute("SELECT at FROM uploads WHERE platform = ? AND at >= ? "
                               "ORDER BY at", (platform, since)).fetchall()
        return [r[0] for r in rows]

    # ------------------------------------------------------------ the daily post

    def claim_daily(self, platform: str, day: str) -> bool:
        """Claim the day's post; False when it was claimed before (posted, or in doubt)."""
        cur = self.db.execute("INSERT OR IGNORE INTO daily_posts (platform, day, status, at) "
                              "VALUES (?, ?, 'posting', ?)", (platform, day, self.clock()))
        return cur.rowcount == 1

    def finish_daily(self, platform: str, day: str, post_id: str, uploads: int = 0,
                     pictures: list[Picture] | None = None) -> None:
        """The day's post is out: marked posted, its cost against the platform's budget and
        its pictures recorded in one transaction, as settle does for a reply (all or none:
        never a day posted whose picture cannot be favourited, nor an upload left uncounted
        for a post that is recorded)."""
        now = self.clock()
        with self._transaction():
            self.db.execute("UPDATE daily_posts SET status = 'posted', post_id = ?, at = ? "
                            "WHERE platform = ? AND day = ?", (post_id, now, platform, day))
            self._insert_uploads(platform, uploads, now)
            self._insert_pictures(platform, pictures or [], now)

    def release_daily(self, platform: str, day: str) -> None:
        """The post certainly did not go out (refused before upload): allow a retry."""
        self.db.execute("DELETE FROM daily_posts WHERE platform = ? AND day = ? AND "
                        "status = 'posting'", (platform, day))

    def daily(self, platform: str, day: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM daily_posts WHERE platform = ? AND day = ?",
                               (platform, day)).fetchone()

"""The bot's memory: one SQLite file in WAL mode.

Each mention is recorded before anything is attempted and moves
    seen -> replying -> replied       (or ignored, refused, failed)
A mention waiting (for a retry, the post budget, media being processed) stays in seen or
replying with its attempts and next_attempt_at: the mentions table is the queue, so the cursor
moves past every mention recorded here. `replying` means a post (reply or note) may have
reached the platform: before any new attempt the service looks for the bot's own reply first.
What that post says and carries is kept in `outgoing` from the moment its media is uploaded
(or the note is about to go) until the mention is settled, so a retry or a restart sends, or
finds, that very post. The platform's reply id is stored once posted. The schema is versioned
with PRAGMA user_version and migrated forward in one transaction per step.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from bot.platforms.base import Mention, Reaction, Uploaded

PENDING = ("seen", "replying")
SETTLED = ("replied", "ignored", "refused", "failed")


class Wait(StrEnum):
    """What a pending mention waits for, kept with it: its reason says it in words for people,
    this says it for code (the budget gauge counts the mentions waiting for the budget)."""

    BUDGET = "budget"  # the platform's media or post budget (a reply or a note, on X)
    RATE_LIMIT = "rate limit"  # a 429's reset
    RETRY = "retry"  # a backoff after a failed attempt
    PROCESSING = "processing"  # media the platform is still processing

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE mentions (
        platform TEXT NOT NULL,
        id TEXT NOT NULL,
        author TEXT NOT NULL,
        author_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN
            ('seen', 'replying', 'replied', 'ignored', 'refused', 'failed')),
        reason TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        reply_id TEXT,
        seed_id INTEGER,
        payload TEXT NOT NULL,
        seen_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        replied_at REAL,
        PRIMARY KEY (platform, id)
    );
    CREATE INDEX mentions_pending ON mentions (platform, status);
    CREATE INDEX mentions_by_author ON mentions (platform, author_id, replied_at);
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE cursors (
        platform TEXT PRIMARY KEY,
        since_id TEXT,
        updated_at REAL NOT NULL
    );
    CREATE TABLE notes (
        platform TEXT NOT NULL,
        author_id TEXT NOT NULL,
        noted_at REAL NOT NULL,
        PRIMARY KEY (platform, author_id)
    );
    CREATE TABLE daily_posts (
        platform TEXT NOT NULL,
        day TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('posting', 'posted')),
        post_id TEXT,
        at REAL NOT NULL,
        PRIMARY KEY (platform, day)
    );
    CREATE TABLE uploads (
        platform TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX uploads_at ON uploads (platform, at);
    """,
    # 2: conversations. Every picture sent, with its latent, so a reply to it can ask for more;
    # favourites and boosts per picture (the garden); when each person last had the help.
    # Replies before this migration count as one picture each (the column's default).
    """
    ALTER TABLE mentions ADD COLUMN pictures INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE pictures (
        platform TEXT NOT NULL,
        post_id TEXT NOT NULL,
        idx INTEGER NOT NULL DEFAULT 0,
        kind TEXT NOT NULL CHECK (kind IN ('picture', 'variation', 'morph', 'daily')),
        mention_id TEXT,
        for_author_id TEXT,
        seed_id INTEGER,
        sigma REAL NOT NULL,
        z TEXT NOT NULL,
        parent_post_id TEXT,
        morph_to INTEGER,
        url TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        deleted_at REAL,
        PRIMARY KEY (platform, post_id, idx)
    );
    CREATE INDEX pictures_created ON pictures (platform, created_at);
    CREATE TABLE reactions (
        platform TEXT NOT NULL,
        id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('favourite', 'reblog')),
        post_id TEXT NOT NULL,
        account_id TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (platform, id)
    );
    CREATE INDEX reactions_post ON reactions (platform, post_id);
    CREATE VIEW counted_pictures AS SELECT p.*,
        (SELECT COUNT(*) FROM reactions r WHERE r.platform = p.platform AND
         r.post_id = p.post_id AND r.kind = 'favourite') AS favourites,
        (SELECT COUNT(*) FROM reactions r WHERE r.platform = p.platform AND
         r.post_id = p.post_id AND r.kind = 'reblog') AS boosts
        FROM pictures p;
    CREATE TABLE helps (
        platform TEXT NOT NULL,
        author_id TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (platform, author_id)
    );
    """,
    # 3: every post on its way (a reply's text, latents and uploaded media, a note's text),
    # kept until its mention is settled. Mentions in flight before this migration have none:
    # they are looked for and, if not found, decided afresh, as before.
    """
    CREATE TABLE outgoing (
        platform TEXT NOT NULL,
        mention_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        text TEXT NOT NULL,
        pictures TEXT NOT NULL DEFAULT '[]',
        uploaded TEXT,
        uploaded_at REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (platform, mention_id)
    );
    """,
    # 4: the classes each picture was drawn in (a JSON object, label set -> class: a
    # conditional generator draws more like it in them). NULL for pictures sent before: the
    # artist draws those in their seed's label.
    """
    ALTER TABLE pictures ADD COLUMN classes TEXT;
    """,
    # 5: what a pending mention waits for (a Wait; NULL: nothing, or from before this step)
    """
    ALTER TABLE mentions ADD COLUMN waiting_for TEXT;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def unwritable_reason(path: Path, timeout: float = 2.0) -> str | None:
    """None when a write transaction can be opened on the state file now (its own short-lived
    connection: /healthz asks from another thread), else why not: locked by another process,
    a read-only file or disk, not a database."""
    try:
        db = sqlite3.connect(path, timeout=timeout)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
        finally:
            db.close()
    except sqlite3.Error as exc:
        return f"state file {path} is not writable: {exc}"
    return None


def _unusable(path: Path, exc: sqlite3.Error) -> str:
    """Why the state file cannot be opened, and the fix. A good file in a read-only folder (a
    read-only mount, compose's read_only: true) fails the same way as a broken one ("unable to
    open database file": WAL needs its -wal and -shm files beside it), but needs no backup."""
    folder = path.parent
    if not os.access(folder, os.W_OK):
        return (f"state file {path} cannot be opened ({exc}): its folder {folder} is read-only "
                "(SQLite writes its -wal and -shm files beside it); make the folder writable, "
                "or set BOT_STATE_PATH to a file in a writable folder")
    if path.exists() and not os.access(path, os.W_OK):
        return (f"state file {path} cannot be opened ({exc}): the file is read-only; make it "
                "writable (chmod, or its owner), or set BOT_STATE_PATH to a writable place")
    if disk_full(folder, exc):
        return (f"state file {path} cannot be used: the disk is full ({exc}); free disk space "
                f"in {folder}, then start again")
    return (f"state file {path} cannot be used ({exc}); restore it from a backup or move it "
            "away to start afresh")


def disk_full(folder: Path, exc: sqlite3.Error) -> bool:
    """True when SQLite failed for want of space: SQLITE_FULL, or an I/O error (the -shm file
    cannot grow: SQLITE_IOERR_SHMSIZE) on a file system with next to nothing free."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL:
        return True
    if code is None or code & 0xFF != sqlite3.SQLITE_IOERR:
        return False
    try:
        free = os.statvfs(folder)
    except OSError:
        return False
    return free.f_bavail * free.f_frsize < 1 << 20  # under a MiB: WAL alone wants more


class StateError(Exception):
    """The state file cannot be used (newer schema, not a database, not writable).
    transient: it may work later without anyone fixing it (a full disk, once space is freed)."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Record:
    mention: Mention
    status: str
    attempts: int
    next_attempt_at: float
    reply_id: str | None
    reason: str | None
    new: bool = False  # recorded by this call (first time seen)
    waiting_for: Wait | None = None  # pending: what its due time waits for


@dataclass(frozen=True)
class Picture:
    """One picture the bot sent: enough to draw more like it from a reply to it."""

    post_id: str  # the platform's id of the post that carries it
    kind: str  # picture (a reply), variation (one of four), morph (a GIF), daily
    z: list[float]  # its latent (a morph: the latent it starts from)
    seed_id: int | None  # the good seed it was drawn near (None: the plain prior)
    sigma: float  # the noise it was drawn with
    idx: int = 0  # which of the post's pictures (variations: 0-3)
    mention_id: str | None = None  # the mention it answered (None: the daily post)
    for_author_id: str | None = None  # who asked for it: the one person who may delete it
    parent_post_id: str | None = None  # the picture it was made from (again, variations...)
    morph_to: int | None = None  # a morph: the good seed it travels to
    url: str = ""
    created_at: float = 0.0
    deleted_at: float | None = None
    favourites: int = 0
    boosts: int = 0
    # The classes it was drawn in, with z (label set -> class: {"kind": "cook", ...}; {}:
    # an unconditional generator; None: sent before classes were kept).
    classes: dict[str, str] | None = None


@dataclass(frozen=True)
class Outgoing:
    """A post on its way to answer one mention: what it says and carries. Kept from the
    moment its media is uploaded (a reply) or it is about to be sent (a note) until the mention
    is settled, so a retry, a restart or the look after a crash deals with this very post."""

    kind: str  # "reply", or the kind of note ("limit", "help", "unknown seed", ...)
    reason: str  # what the mention is settled with once the post is out
    text: str
    pictures: tuple[Picture, ...] = ()  # a reply's, with their latents (post_id not known yet)
    uploaded: Uploaded | None = None  # a reply's media on the platform
    uploaded_at: float = 0.0

    @property
    def is_note(self) -> bool:
        return self.kind != "reply"


def _outgoing(row: sqlite3.Row) -> Outgoing:
    up = json.loads(row["uploaded"]) if row["uploaded"] else None
    return Outgoing(row["kind"], row["reason"], row["text"],
                    tuple(Picture(**p) for p in json.loads(row["pictures"])),
                    None if up is None else Uploaded(tuple(up["ids"]), tuple(up["waiting"]),
                                                     up["check_in"], up["checks"]),
                    row["uploaded_at"])


def _mention_json(m: Mention) -> str:
    d = asdict(m)
    d["created_at"] = m.created_at.isoformat()
    return json.dumps(d, ensure_ascii=False)


def _mention_from_json(text: str) -> Mention:
    d = json.loads(text)
    d["created_at"] = datetime.fromisoformat(d["created_at"])
    return Mention(**d)  # fields added later (in_reply_to_id) take their defaults


_PICTURE_COLUMNS = ("post_id", "idx", "kind", "mention_id", "for_author_id", "seed_id", "sigma",
                    "z", "parent_post_id", "morph_to", "url", "created_at", "deleted_at",
                    "classes")


def _picture(row: sqlite3.Row) -> Picture:
    d = {k: row[k] for k in _PICTURE_COLUMNS}
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
            raise StateError(_unusable(self.path, exc),
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
            (platform, m.id, m.author, m.author_id, _mention_json(m), now, now))
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
        return Record(_mention_from_json(row["payload"]), row["status"], row["attempts"],
                      row["next_attempt_at"], row["reply_id"], row["reason"],
                      waiting_for=Wait(wait) if wait in set(Wait) else None)

    def pending(self, platform: str) -> list[Record]:
        rows = self.db.execute(
            "SELECT * FROM mentions WHERE platform = ? AND status IN ('seen', 'replying')",
            (platform,)).fetchall()
        return [self._record(r) for r in rows]

    def settle(self, platform: str, mention_id: str, status: str, reason: str | None = None,
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
                (status, reason, reply_id, seed_id, now, count if status == "replied" else 0,
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
        return _outgoing(row) if row else None

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
        return [_picture(r) for r in rows]

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
        return [_picture(r) for r in rows]

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

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

This module: the statuses, the wait reasons and the schema with its migrations.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Where a mention is: seen -> replying -> replied (or ignored, refused, failed). Stored as
    its value in mentions.status (the schema's CHECK lists the same six words)."""

    SEEN = "seen"
    REPLYING = "replying"  # a post may have reached the platform: look for it before retrying
    REPLIED = "replied"
    IGNORED = "ignored"
    REFUSED = "refused"
    FAILED = "failed"


PENDING = (Status.SEEN, Status.REPLYING)
SETTLED = (Status.REPLIED, Status.IGNORED, Status.REFUSED, Status.FAILED)


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

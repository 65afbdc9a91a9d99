"""The popular panel's source: the bot's most favourited pictures, read from its state file.

The state file's schema is the contract between the bot and this module, not bot/'s code: model/
never imports bot/. This is a read-only query (SQLite's ``mode=ro``: never a write, never a
migration, safe beside a running bot in WAL mode) of the ``counted_pictures`` view that
bot/state/schema.py creates in its schema version 2 (pictures with their favourites and boosts;
from version 4 the classes each was drawn in); tests/test_explore.py writes the file with
bot.state.store and reads it here, so a change of the schema that breaks this query fails
there.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from model.errors import UserError

PopularProvider = Callable[[int], list[dict]]  # n -> up to n pictures, most favourited first
PICTURES_SCHEMA = 2  # the bot's state schema that added pictures and their reactions
CLASSES_SCHEMA = 4  # ... and the one that keeps the classes each picture was drawn in
# The bot's own ranking (bot.state.store.State.popular): favourites, then boosts, then newest.
POPULAR_SQL = (
    "SELECT post_id, idx, url, favourites, boosts, seed_id, kind, created_at, {classes}, z "
    "FROM counted_pictures WHERE deleted_at IS NULL AND favourites + boosts > 0 "
    "ORDER BY favourites DESC, boosts DESC, created_at DESC, idx LIMIT ?")


def state_popular(path: Path) -> PopularProvider:
    """The popular panel's provider for the bot's state file: its most favourited pictures.

    The file is checked once now (a clear one-line error for a missing file, something that is
    not a state file, or one from before pictures were recorded), then opened afresh, read-only,
    for each call, so that each request thread has its own connection.
    """
    path = Path(path)
    if not path.is_file():  # connecting would not create it (mode=ro), but say what to give
        raise UserError(f"--state {path}: no such file; give the bot's state file "
                        "(BOT_STATE_PATH, default state/bot.sqlite3) or leave --state out")
    _read(path, 0, "--state")

    def popular(n: int) -> list[dict]:
        if not path.is_file():
            raise UserError(f"state file {path} is gone; restart the explorer with the "
                            "bot's state file")
        return _read(path, n, "state file")

    return popular


def _read(path: Path, n: int, what: str) -> list[dict]:
    """Up to n pictures, most favourited first; n = 0 checks the file and reads nothing."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
    except sqlite3.Error as exc:
        raise UserError(f"{what} {path} cannot be used ({exc}); give the bot's state file "
                        "(BOT_STATE_PATH)") from None
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version < PICTURES_SCHEMA:
            why = "not a bot state file" if version == 0 else "older than its pictures"
            raise UserError(f"{what} {path} cannot be used (schema version {version}: {why}); "
                            "give the bot's current state file (a bot started once with an "
                            "older one upgrades it)")
        classes = "classes" if version >= CLASSES_SCHEMA else "NULL"
        rows = db.execute(POPULAR_SQL.format(classes=classes), (n,)).fetchall()
    except sqlite3.Error as exc:  # not a database, or a schema this query does not know
        raise UserError(f"{what} {path} cannot be used ({exc}); give the bot's state file, "
                        "or update the explorer to the bot's version") from None
    finally:
        db.close()
    keys = ("post_id", "idx", "url", "favourites", "boosts", "seed_id", "kind", "created_at")
    # classes: what the picture was drawn in (None: sent before the bot kept them)
    return [{**dict(zip(keys, row[:-2], strict=True)),
             "classes": None if row[-2] is None else json.loads(row[-2]),
             "z": json.loads(row[-1])} for row in rows]


def popular_note(picture: dict) -> str:
    """The note of a popular picture saved as a good seed."""
    def count(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")
    url = picture["url"]
    where = url if url.lower().startswith(("https://", "http://")) else f"post {picture['post_id']}"
    return (f"favourite {where}: {count(picture['favourites'], 'favourite')}, "
            f"{count(picture['boosts'], 'boost')}")

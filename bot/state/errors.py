"""When the state file cannot be used, and why, in words an operator can act on.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


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


def unusable_reason(path: Path, exc: sqlite3.Error) -> str:
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

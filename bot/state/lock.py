"""One running bot per state file: a lock held by a live process.

Two bots on one state file both see every mention: a mention the other one is replying to
looks like one a crash left `replying`, and both answer it. So `run`, `once` and `post` hold
an exclusive flock(2) on `<state file>.lock` for as long as they live; a second one is refused
with the holder's pid. The kernel drops the lock when its process ends, however it ends
(kill -9 included): the file left behind never blocks anybody. Readers need no lock (the
explorer's popular panel, `python -m bot check`): SQLite's WAL lets them read beside the bot.

flock, not SQLite's own locks: those are taken per transaction and released between them,
so they cannot say "a bot is running". A separate file, not the database: on NFS, flock is
emulated with the byte-range locks SQLite itself uses on the database file.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path


class Busy(Exception):
    """Another live process holds the state file."""


class StateLock:
    def __init__(self, state_path: Path):
        self.path = lock_path(state_path)
        self._fd: int | None = None

    def acquire(self) -> StateLock:
        """Take the lock or raise Busy (at once, never waiting) naming the holder. OSError
        when the lock file cannot be made (a read-only folder: the state file's own checks
        then say why)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except PermissionError:  # another user's lock file (root ran the bot by hand): flock
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)  # needs no write access
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise Busy(holder) from None
        except BaseException:
            os.close(fd)
            raise
        # Who holds it, for the refusal a second bot prints: only the holder writes here.
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        except OSError:  # opened read-only: held all the same, the pid unknown to others
            pass
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays, harmless
            self._fd = None

    def __enter__(self) -> StateLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_path(state_path: Path) -> Path:
    state_path = Path(state_path)
    return state_path.with_name(state_path.name + ".lock")


def _read(fd: int) -> str:
    """The holder as 'pid 123' (and its host when it is another one, a container's), or
    'a process whose pid is not known' when it has not written it yet."""
    try:
        pid, _, host = os.pread(fd, 200, 0).decode(errors="replace").strip().partition(" ")
    except OSError:
        pid, host = "", ""
    if not pid.isdigit():
        return "a process whose pid is not known"
    here = socket.gethostname()
    return f"pid {pid}" + (f" on host {host}" if host and host != here else "")


def busy_message(state_path: Path, holder: str) -> str:
    return (f"state file {Path(state_path).absolute()} is in use by another running bot "
            f"({holder}); one bot per state file: stop that one first (systemctl stop "
            "human-image-bot, or kill the pid), or set BOT_STATE_PATH to another file")

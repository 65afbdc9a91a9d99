"""A full disk is a transient failure: on a real, small tmpfs.

The local platform's outbox (or the state file) lives on a 64 KiB tmpfs filled to the last
byte. `python -m bot once` runs as an operator runs it: one line naming the folder and saying
to free disk space, exit 75 (EX_TEMPFAIL), no traceback, no .tmp or half-written file, every
mention still pending; once space is freed they are answered. Mounting needs root (CI runs as
root); elsewhere these tests are skipped, saying so.
"""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.parts import make_artist
from bot.config import load_settings
from bot.platforms.local import LocalPlatform
from bot.service import Service
from bot.state.store import State
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import TINY, FakeClock

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, filled by one file (`filler`) until the kernel said ENOSPC."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root, as in CI): "
                    f"{mounted.stderr.strip() or mounted.returncode}")
    try:
        with open(folder / "filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def weights(tiny_weights: Path) -> Path:
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [Seed(1, [0.1] * TINY.z_dim)]))
    return tiny_weights


def once(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
                   "BOT_DAILY_POST_ENABLED": "false", "BOT_LOCAL__STDIN": "false", **env}
    return subprocess.run([sys.executable, "-m", "bot", "once"], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=300)


def errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def test_a_full_outbox_keeps_the_mentions_pending_and_once_exits_75(
        tmp_path: Path, full_tmpfs: Path, weights: Path) -> None:
    inbox, outbox, state = tmp_path / "inbox", full_tmpfs / "outbox", tmp_path / "state.db"
    inbox.mkdir()
    outbox.mkdir()  # a folder costs no data block on tmpfs: only the pictures do not fit
    for name in ("alice", "bob", "carol"):
        (inbox / f"{name}.txt").write_text(f"@{name} create a human image")

    result = once(tmp_path, BOT_WEIGHTS_DIR=str(weights), BOT_STATE_PATH=str(state),
                  BOT_LOCAL__INBOX=str(inbox), BOT_LOCAL__OUTBOX=str(outbox))

    assert result.returncode == 75, result.stderr
    assert "Traceback" not in result.stderr
    [line] = errors(result.stderr)
    assert f"no space left in {outbox}" in line and "free disk space" in line, line
    left = sorted(p.relative_to(full_tmpfs).as_posix() for p in full_tmpfs.rglob("*"))
    assert left == ["filler", "outbox", "outbox/uploads"], left  # no .tmp, no part of a post
    records = State(state).pending("local")
    assert len(records) == 3 and all(r.status == "seen" for r in records)
    assert sum(r.attempts for r in records) == 1  # one tried; the other two wait behind it
    assert sorted(p.name for p in inbox.iterdir()) == ["alice.txt", "bob.txt", "carol.txt"]

    (full_tmpfs / "filler").unlink()  # space freed: the next turn answers all three
    settings = load_settings(weights_dir=weights, state_path=state, daily_post_enabled=False,
                             local={"inbox": inbox, "outbox": outbox, "stdin": False})
    clock = FakeClock()
    clock.offset += 3600  # the next cron turn
    service = Service(settings, LocalPlatform(settings.local, out=io.StringIO()),
                      make_artist(settings), State(state, clock.now), clock)
    service.start()
    service.cycle()
    assert service.state.counts("local") == {"replied": 3}
    assert len(list(outbox.glob("reply-*.png"))) == 3 and not list(outbox.rglob("*.tmp"))
    assert service.failing is None


def test_a_state_file_on_a_full_disk_says_free_disk_space_and_exits_75(
        tmp_path: Path, full_tmpfs: Path, weights: Path) -> None:
    state = full_tmpfs / "bot.sqlite3"
    result = once(tmp_path, BOT_WEIGHTS_DIR=str(weights), BOT_STATE_PATH=str(state))
    assert result.returncode == 75, result.stderr
    [line] = errors(result.stderr)
    assert str(state) in line and "free disk space" in line, line
    assert "backup" not in line and "Traceback" not in result.stderr

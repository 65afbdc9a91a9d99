"""One running bot per state file (issue 31, 1): a second run, once or post is refused with
one line naming the holder's pid, readers still work beside it, and the lock dies with its
process, kill -9 included. Real processes throughout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from model.explore.popular import state_popular

REPO = Path(__file__).resolve().parent.parent


def bot_env(tmp_path: Path, weights: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(REPO), BOT_WEIGHTS_DIR=str(weights),
               BOT_STATE_PATH=str(tmp_path / "state" / "bot.sqlite3"),
               BOT_LOCAL__INBOX=str(tmp_path / "in"), BOT_LOCAL__OUTBOX=str(tmp_path / "out"),
               BOT_DAILY_POST_ENABLED="false", BOT_POLL_SECONDS="1")
    return env


def start(command: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot", command], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, env={**env, "BOT_LOCAL__STDIN": "false"})


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_a_second_bot_on_one_state_file_is_refused_until_the_first_is_killed(
        tmp_path: Path, tiny_weights: Path) -> None:
    env = bot_env(tmp_path, tiny_weights)
    # The first bot reads stdin (kept open), so it runs until killed.
    first = subprocess.Popen([sys.executable, "-m", "bot", "run"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=tmp_path, env=env)
    try:
        for line in first.stderr:  # the loop runs: the lock is held
            if "signed in to local" in line:
                break
        (tmp_path / "in" / "1.txt").write_text("@alice create a human image")
        others = {c: start(c, env, tmp_path) for c in ("run", "once", "post", "check")}
        results = {c: (p.wait(timeout=120), p.communicate()) for c, p in others.items()}
        for command in ("run", "once", "post"):
            code, (out, err) = results[command]
            [line] = errors(err)
            assert code == 75, (command, err)
            assert f"pid {first.pid}" in line and str(tmp_path / "state" / "bot.sqlite3") in line
            assert "Traceback" not in err
        # readers work beside it: bot check, and the explorer's popular panel
        code, (out, err) = results["check"]
        assert code == 0 and out.startswith("ok: local"), err
        assert state_popular(tmp_path / "state" / "bot.sqlite3")(5) == []
    finally:
        first.send_signal(signal.SIGKILL)  # no clean-up at all: the lock must still go
        first.wait(timeout=30)
        first.stdout.close()
        first.stderr.close()
    # The lock file is left behind; it blocks nobody. The first bot may have answered the
    # mention before it was killed: once answers it if not, and answers nothing twice.
    assert (tmp_path / "state" / "bot.sqlite3.lock").is_file()
    after = start("once", env, tmp_path)
    out, err = after.communicate(timeout=120)
    assert after.returncode == 0 and errors(err) == [], err
    assert len(list((tmp_path / "out").glob("*.png"))) == 1

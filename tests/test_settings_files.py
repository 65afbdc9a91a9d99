"""Settings files (issue 31, 5): a .env the bot cannot read is refused in one line naming the
line; JSON values are quoted in deploy/.env.example and read whole, by the bot's .env reader and
by the command deploy/OPERATIONS.md documents; SIGHUP reads the settings again, taking those a
running bot can take and warning about the rest; the state file's absolute path is logged."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.config import load_settings
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import TINY

REPO = Path(__file__).resolve().parent.parent
JSON_SETTINGS = ("BOT_TRIGGERS", "BOT_COMMANDS", "BOT_LIKE_PHRASES")


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def local(bot_env: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BOT_WEIGHTS_DIR", str(tiny_weights))
    monkeypatch.setenv("BOT_LOCAL__STDIN", "false")
    return bot_env


@pytest.mark.parametrize(("content", "expected"), [
    # a line that is no NAME=value: it was skipped with a warning (twice) and the bot ran
    (b"BOT_SIGMA=0.3\nthis is not a setting\nBOT_BEST_OF=4\n", ".env line 2 cannot be read"),
    # an unclosed quote swallows the lines after it
    (b"BOT_SIGMA='0.3\nBOT_BEST_OF=4\n", ".env line 1 (BOT_SIGMA) cannot be read"),
    # not UTF-8 (Latin-1): it was a traceback
    (b"BOT_SIGMA=0.3\nBOT_TRIGGERS='[\"caf\xe9\"]'\n", ".env line 2 is not UTF-8 text (byte 0xe9)"),
    # JSON cut at " #" by the .env reader: the rest was a comment
    (b'BOT_LIKE_PHRASES=["like #{n}"]\n', ".env line 1 (BOT_LIKE_PHRASES): an unquoted JSON"),
])
def test_a_env_file_the_bot_cannot_read_is_one_line_naming_the_line(
        local: Path, content: bytes, expected: str, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    (local / ".env").write_bytes(content)
    assert main(["check"]) == 78
    captured = capsys.readouterr()
    [line] = errors(captured.err)
    assert expected in line and "0.3" not in line  # the line is named, its text never shown
    assert "could not parse" not in caplog.text and "Traceback" not in captured.err
    assert not (local / "state").exists()  # refused before anything was opened


def example_with_json_lines(weights: Path) -> str:
    """deploy/.env.example with its JSON settings uncommented, as an operator fills it in."""
    lines = []
    for line in (REPO / "deploy" / ".env.example").read_text().splitlines():
        name = line[2:].partition("=")[0]
        lines.append(line[2:] if name in JSON_SETTINGS else line)
    return "\n".join([*lines, f"BOT_WEIGHTS_DIR={weights}", ""])


def example_values() -> dict[str, object]:
    """What the example's quoted JSON values say, read as JSON (the single quotes removed)."""
    text = (REPO / "deploy" / ".env.example").read_text()
    values = {}
    for name in JSON_SETTINGS:
        [raw] = re.findall(rf"^# {name}='(.*)'$", text, re.MULTILINE)
        values[name] = json.loads(raw)
    return values


def test_the_example_json_values_are_read_whole_by_the_bot(bot_env: Path,
                                                           tiny_weights: Path) -> None:
    (bot_env / ".env").write_text(example_with_json_lines(tiny_weights))
    settings = load_settings()
    values = example_values()
    assert settings.triggers == values["BOT_TRIGGERS"]
    assert settings.like_phrases == values["BOT_LIKE_PHRASES"]  # "like #{n}" kept whole
    assert all(settings.commands[k] == v for k, v in values["BOT_COMMANDS"].items())


def test_the_documented_check_command_reads_bot_env_as_systemd_does(tmp_path: Path,
                                                                     tiny_weights: Path) -> None:
    """deploy/OPERATIONS.md's command, run as written (sudo and the install paths aside), on
    the example with its JSON lines filled in. Before: `env $(grep ... | xargs)`, which xargs
    stops at the first quote."""
    operations = (REPO / "deploy" / "OPERATIONS.md").read_text()
    [command] = re.findall(r"sudo -u human-image-bot (sh -c '[^']*')", operations)
    (tmp_path / "bot.env").write_text(example_with_json_lines(tiny_weights))
    command = (command.replace("/etc/human-image-bot/bot.env", str(tmp_path / "bot.env"))
               .replace("/var/lib/human-image-bot", str(tmp_path / "var"))
               .replace(".venv/bin/python", sys.executable))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("ok: local"), result.stderr
    assert errors(result.stderr) == []
    assert f"state {tmp_path / 'var' / 'bot.sqlite3'}" in result.stderr  # the unit's path
    assert "人間の画像を作って" in result.stderr  # the triggers, whole, in the summary
    assert (tmp_path / "var" / "bot.sqlite3").is_file()


def test_the_state_path_is_logged_absolute_and_a_new_one_is_warned_about(
        local: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    absolute = local / "state" / "bot.sqlite3"
    log = capsys.readouterr().err
    assert f"state {absolute};" in log  # the summary, absolute
    assert f"state file {absolute} does not exist yet" in log
    assert main(["check"]) == 0
    assert "does not exist yet" not in capsys.readouterr().err


class Lines:
    """A process's stderr, line by line, read by a thread: waiting for a line never blocks
    past the timeout even when it never comes."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(x) for x in stream], daemon=True).start()

    def until(self, text: str, timeout: float = 120) -> list[str]:
        seen = []
        while True:
            line = self.lines.get(timeout=timeout)
            seen.append(line)
            if text in line:
                return seen


def test_sighup_rereads_the_settings_it_can_and_warns_about_the_rest(
        tmp_path: Path, tiny_weights: Path) -> None:
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [Seed(1, [0.1] * TINY.z_dim)]))
    (tmp_path / ".env").write_text("BOT_SIGMA=0.5\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "BOT_WEIGHTS_DIR": str(tiny_weights),
           "BOT_DAILY_POST_ENABLED": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "bot"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=env)
    try:
        stderr = Lines(proc.stderr)
        stderr.until("signed in to local")
        (tmp_path / ".env").write_text("BOT_SIGMA=0.3\nBOT_STATE_PATH=elsewhere.db\n")
        proc.send_signal(signal.SIGHUP)
        log = "".join(stderr.until("reloaded weights"))
        assert "BOT_SIGMA: 0.5 -> 0.3" in log
        assert "BOT_STATE_PATH changed, but takes a restart" in log
        # a bad .env at SIGHUP: refused in one line, everything in use stays
        (tmp_path / ".env").write_bytes(b"BOT_SIGMA=0.1\nBOT_TRIGGERS='[\"caf\xe9\"]'\n")
        proc.send_signal(signal.SIGHUP)
        [refused] = [x for x in stderr.until("reload refused") if "reload refused" in x]
        assert "keeping the settings, weights and seeds" in refused and "not UTF-8" in refused
        proc.stdin.write("@alice create a human image\n")
        proc.stdin.close()
        assert proc.stdout.readline().startswith("reply to @alice")
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill() if proc.poll() is None else None
    [meta] = (tmp_path / "local" / "outbox").glob("*.json")
    assert "noise 0.3" in json.loads(meta.read_text())["alt_text"]  # the new sigma drew it
    assert not (tmp_path / "elsewhere.db").exists()  # the state file stayed where it was

"""Operators' mistakes and a daily post that meets other weights: one line and the right exit
status, never a traceback, a restart loop or a bot that says ok and answers nobody.

Real processes, real files, real sockets: a read-only folder is a read-only bind mount in a
private mount namespace (as compose's read_only: true; root is refused too)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from bot.__main__ import main
from bot.config import load_settings
from bot.platforms.base import Reaction
from bot.state.records import Picture
from bot.state.store import State
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import TINY

REPO = Path(__file__).resolve().parent.parent


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
            "BOT_DAILY_POST_ENABLED": "false", **extra}


def errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_only(folder: Path, command: list[str]) -> list[str]:
    """`command`, run in `folder` with `folder` mounted read-only; a skip where no mount
    namespace can be had (util-linux's unshare; user namespaces for a non-root user)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare (util-linux) for a read-only mount")
    prefix = [unshare, "-m"] if os.geteuid() == 0 else [unshare, "-rm"]
    # cd after the mount: a working directory entered before it stays on the writable mount
    script = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && cd "$1" && shift '
              '&& exec "$@"')
    probe = subprocess.run([*prefix, "sh", "-c", script, "sh", str(folder), "sh", "-c",
                            "! touch probe 2>/dev/null"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount read-only here: {probe.stderr.decode()[-200:]}")
    return [*prefix, "sh", "-c", script, "sh", str(folder), *command]


@pytest.fixture
def seeded(tiny_weights: Path) -> Path:
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [
        Seed(1, [0.5] * TINY.z_dim), Seed(2, [-0.5] * TINY.z_dim)]))
    return tiny_weights


@pytest.fixture
def local_bot(bot_env: Path, seeded: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment of an in-process python -m bot on the local platform."""
    for key, value in {"BOT_WEIGHTS_DIR": str(seeded), "BOT_LOCAL__STDIN": "false",
                       "BOT_DAILY_POST_ENABLED": "false"}.items():
        monkeypatch.setenv(key, value)
    return bot_env


# ---------------------------------------------------------------- 5. the daily post


def yesterdays_pictures(state_path: Path, pictures: dict[str, tuple[list[float], int]]) -> None:
    """Pictures made yesterday on the local platform, each with its number of favourites."""
    state = State(state_path)
    yesterday = time.time() - 86400
    state.record_pictures("local", [Picture(post_id, "picture", z, seed_id=1, sigma=0.5,
                                            created_at=yesterday)
                                    for post_id, (z, _) in pictures.items()])
    state.record_reactions("local", [Reaction(f"{post_id}-{i}", "favourite", post_id, f"a{i}")
                                     for post_id, (_, favs) in pictures.items()
                                     for i in range(favs)])
    state.close()


def test_the_daily_post_skips_a_favourite_the_generator_cannot_take(
        local_bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the most favourited picture of yesterday was drawn by weights with z_dim 16 (before a
    # SIGHUP); the next one fits these weights (z_dim 8)
    fits = [0.3 * (i % 3) for i in range(TINY.z_dim)]
    yesterdays_pictures(local_bot / "state" / "bot.sqlite3",
                        {"old-weights": ([0.1] * 16, 5), "fits": (fits, 1)})
    assert main(["post"]) == 0
    posted = capsys.readouterr().out.strip().splitlines()[-1]  # after the platform's line
    today = datetime.now(UTC).date().isoformat()
    assert posted == f"posted post-daily-{today}"
    state = State(local_bot / "state" / "bot.sqlite3")
    [daily] = state.pictures_of("local", f"post-daily-{today}")
    assert daily.parent_post_id == "fits" and len(daily.z) == TINY.z_dim
    assert state.daily("local", today)["status"] == "posted"
    state.close()


def test_a_failed_daily_post_says_so_and_is_made_on_the_next_try(
        local_bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    today = datetime.now(UTC).date().isoformat()
    blocker = local_bot / "local" / "outbox" / f"post-daily-{today}.png"
    blocker.mkdir(parents=True)  # the picture cannot be written: the post fails
    assert main(["post"]) == 1
    err = capsys.readouterr().err
    [line] = errors(err)
    assert f"the daily post for {today} was not made" in line and "Is a directory" in line
    state = State(local_bot / "state" / "bot.sqlite3")
    assert state.daily("local", today) is None  # the claim is released: the day stays open
    state.close()

    blocker.rmdir()
    assert main(["post"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"posted post-daily-{today}"
    assert main(["post"]) == 0  # and never twice
    out = capsys.readouterr().out.strip()
    assert out == f"today's post ({today}) was made already: post-daily-{today}"
    assert len(list((local_bot / "local" / "outbox").glob("post-*.png"))) == 1


# ---------------------------------------------------------------- 7. operators' mistakes


def test_credentials_for_another_platform_stop_the_start(
        local_bot: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BOT_PLATFROM", "mastodon")  # the typo: BOT_PLATFORM stays local
    monkeypatch.setenv("BOT_MASTODON__BASE_URL", "https://mastodon.example")
    monkeypatch.setenv("BOT_MASTODON__ACCESS_TOKEN", "tok-5e6f7a8b")
    assert main(["check"]) == 78
    captured = capsys.readouterr()
    [line] = errors(captured.err)
    assert "BOT_MASTODON__ACCESS_TOKEN" in line and "the platform is local" in line
    assert "BOT_PLATFORM=mastodon" in line and "ok:" not in captured.out
    assert "tok-5e6f7a8b" not in captured.err + captured.out

    monkeypatch.setenv("BOT_PLATFORM", "mastodon")  # as meant: the same settings are good
    assert load_settings().platform == "mastodon"


def test_a_busy_metrics_port_is_one_line_before_anything_is_read(
        tmp_path: Path, seeded: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path,
                                input="@alice create a human image\n",
                                env=env(BOT_WEIGHTS_DIR=str(seeded),
                                        BOT_METRICS_PORT=str(port)),
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 78, result.stderr
    [line] = errors(result.stderr)
    assert f"BOT_METRICS_PORT {port}" in line and "already in use" in line
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "state").exists()  # stopped before anything was opened or read


def test_bot_check_reports_a_busy_metrics_port_but_not_its_own_running_bot(
        local_bot: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from bot.ops.health import ObserveServer
    from bot.ops.metrics import Metrics

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        monkeypatch.setenv("BOT_METRICS_PORT", str(holder.getsockname()[1]))
        assert main(["check"]) == 78
    [line] = errors(capsys.readouterr().err)
    assert "already in use" in line

    # beside the running service (docker compose exec bot python -m bot check): its own port
    running = ObserveServer(Metrics(), lambda: time.time(), 60, local_bot / "s.db", 0).start()
    try:
        monkeypatch.setenv("BOT_METRICS_PORT", str(running.port))
        assert main(["check"]) == 0
    finally:
        running.stop()
    captured = capsys.readouterr()
    assert captured.out.startswith("ok: local as @bot") and errors(captured.err) == []
    assert f"BOT_METRICS_PORT {running.port} is held by a running bot" in captured.err


def test_the_local_platform_in_a_read_only_directory_is_one_line(tmp_path: Path,
                                                                 seeded: Path) -> None:
    work = tmp_path / "app"  # the working directory, read-only as in the compose file
    work.mkdir()
    result = subprocess.run(read_only(work, [sys.executable, "-m", "bot"]), input="",
                            env=env(BOT_WEIGHTS_DIR=str(seeded),
                                    BOT_STATE_PATH=str(tmp_path / "state" / "bot.sqlite3")),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 78, result.stderr
    [line] = errors(result.stderr)
    assert "local/inbox" in line and "local/outbox" in line and "BOT_PLATFORM" in line
    assert "Read-only file system" in line and "Traceback" not in result.stderr


def test_a_good_state_file_in_a_read_only_folder_is_called_read_only(tmp_path: Path,
                                                                    seeded: Path) -> None:
    folder = tmp_path / "state"
    State(folder / "bot.sqlite3").close()
    before = (folder / "bot.sqlite3").read_bytes()
    result = subprocess.run(
        read_only(folder, [sys.executable, "-m", "bot", "once"]),
        env=env(BOT_WEIGHTS_DIR=str(seeded), BOT_STATE_PATH=str(folder / "bot.sqlite3"),
                BOT_LOCAL__STDIN="false", BOT_LOCAL__INBOX=str(tmp_path / "in"),
                BOT_LOCAL__OUTBOX=str(tmp_path / "out")),
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 78, result.stderr
    [line] = errors(result.stderr)
    assert f"its folder {folder} is read-only" in line and "BOT_STATE_PATH" in line
    assert "backup" not in line and "move it away" not in line
    assert (folder / "bot.sqlite3").read_bytes() == before


def test_generate_makes_a_missing_folder_and_names_what_is_wrong(
        local_bot: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--n", "3", "--out", "replies/"]) == 0  # the README's, fresh
    index = json.loads((local_bot / "replies" / "replies.json").read_text())
    assert sorted(p.name for p in (local_bot / "replies").glob("*.png")) == sorted(
        r["file"] for r in index) and len(index) == 3
    assert main(["generate", "--out", "newdir/", "--request-id", "r1"]) == 0
    assert (local_bot / "newdir" / "human-r1.png").is_file()
    assert main(["generate", "--out", "deeper/x.webp"]) == 0
    assert (local_bot / "deeper" / "x.webp").is_file()
    capsys.readouterr()
    for out, words in (("newfile", "no image type, and no such folder"),
                       ("x.gif", "unknown image type '.gif'")):
        assert main(["generate", "--out", out]) == 64
        [line] = errors(capsys.readouterr().err)
        assert words in line and ".png" in line and "ending in /" in line
        assert not (local_bot / out).exists()
    (local_bot / "a-file").write_text("kept")
    assert main(["generate", "--n", "2", "--out", "a-file"]) == 64
    [line] = errors(capsys.readouterr().err)
    assert "is a file, not a folder" in line and (local_bot / "a-file").read_text() == "kept"


# ---------------------------------------------------------------- the explorer, as run


def test_the_explorer_command_answers_404_for_unknown_seeds_and_leaves_no_lock_file(
        seeded: Path) -> None:
    pytest.importorskip("uvicorn")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "model.explore", "--weights", str(seeded),
                             "--port", str(port), "--device", "cpu"], cwd=REPO,
                            env=env(PYTHONUNBUFFERED="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert "latent explorer on" in proc.stdout.readline()
        deadline = time.monotonic() + 60
        while True:  # printed before uvicorn listens: wait for the socket, bounded
            try:
                requests.get(base + "/api/info", timeout=5).raise_for_status()
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)  # the poll's interval; the condition and its bound are above
        strip = requests.get(base + "/api/interpolate?a=1&b=9999", timeout=30)
        near = requests.get(base + "/api/seeds/9999/neighbours", timeout=30)
        assert requests.get(base + "/api/seeds", timeout=30).status_code == 200
        saved = requests.post(base + "/api/seeds", json={"z": [0.25] * TINY.z_dim}, timeout=30)
        deleted = requests.delete(base + f"/api/seeds/{saved.json()['id']}", timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert strip.status_code == 404 and "no seed #9999" in strip.json()["detail"]
    assert near.status_code == 404 and "no seed #9999" in near.json()["detail"]
    assert saved.status_code == 201 and deleted.status_code == 200
    assert sorted(p.name for p in seeded.iterdir()) == [
        "generator.json", "generator.safetensors", "seeds.json", "seeds.json.bak"]


# ---------------------------------------------------------------- the docs and the image


def dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax (Go's filepath.Match, and '**' for any number of folders)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(out + r"\Z")


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or a folder above it decides;
    a pattern starting with '!' takes the path back in."""
    excluded = False
    parts = path.split("/")
    for raw in patterns:
        negate, pattern = raw.startswith("!"), raw.removeprefix("!").strip("/")
        regex = dockerignore_regex(pattern)
        if any(regex.match("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


def test_the_docker_build_context_is_the_code_and_the_weights() -> None:
    ignore = REPO / ".dockerignore"
    assert ignore.is_file(), "no .dockerignore: the build context holds .venv, runs/, state/"
    patterns = [line.strip() for line in ignore.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sent: dict[str, int] = {}
    for folder, dirs, files in os.walk(REPO):
        rel = Path(folder).relative_to(REPO).as_posix()
        dirs[:] = [d for d in dirs if not dockerignore_excludes(
            patterns, f"{rel}/{d}".removeprefix("./"))]
        for name in files:
            path = f"{rel}/{name}".removeprefix("./")
            if not dockerignore_excludes(patterns, path):
                sent[path] = (Path(folder) / name).stat().st_size
    for dockerfile in sorted((REPO / "deploy").glob("Dockerfile*")):  # what the images COPY
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY ") and "--from=" not in line:
                for source in line.split()[1:-1]:
                    if not source.startswith("--"):
                        assert any(p == source or p.startswith(source + "/") for p in sent), \
                            (dockerfile.name, source)
    for kept_out in (".venv/", "runs/", "state/", "local/", ".git/"):
        assert not any(p.startswith(kept_out) for p in sent), kept_out
    assert not any(p.endswith(".lock") or "/previous-export-" in p for p in sent)
    assert sum(sent.values()) < 64 * 2**20  # the code, the docs and the weights


def test_the_operator_docs_name_the_scopes_and_commands_the_bot_has() -> None:
    from bot.conversation.commands import REPLY_COMMANDS
    from bot.platforms.mastodon import TOKEN_SCOPES

    env_example = (REPO / "deploy" / ".env.example").read_text()
    operations = (REPO / "deploy" / "OPERATIONS.md").read_text()
    for text in (env_example, (REPO / "README.md").read_text()):
        assert TOKEN_SCOPES in text and "write:accounts" in text
    assert "delete" in REPLY_COMMANDS and "`delete`" in operations
    assert "not yet in the bot" not in operations

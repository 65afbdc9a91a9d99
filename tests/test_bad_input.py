"""Bad input that once got through: weights that draw noise, typos in settings, a missing
seeds file, files the bot and the trainer write left to git."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.drawing.artist import Artist, ArtistOptions
from model.errors import UserError
from model.nets.weights import CARD_FILE

REPO = Path(__file__).resolve().parent.parent


def bot_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(REPO), BOT_LOCAL__STDIN="false", BOT_DAILY_POST_ENABLED="false",
               **extra)
    return env


def edit_card(folder: Path, **changes: object) -> None:
    card = json.loads((folder / CARD_FILE).read_text())
    (folder / CARD_FILE).write_text(json.dumps({**card, **changes}))


def test_weights_from_a_dry_run_are_refused(tiny_weights: Path) -> None:
    edit_card(tiny_weights, dry_run=True)
    with pytest.raises(UserError) as err:
        Artist(tiny_weights, tiny_weights / "seeds.json", ArtistOptions(device="cpu"))
    assert str(tiny_weights) in str(err.value) and "dry run" in str(err.value)
    assert "\n" not in str(err.value)


def test_weights_whose_card_records_noise_are_refused(tiny_weights: Path) -> None:
    edit_card(tiny_weights, swd={"resolutions": [32, 16], "per_level": [210.0, 160.0],
                                 "mean": 185.0})
    with pytest.raises(UserError) as err:
        Artist(tiny_weights, tiny_weights / "seeds.json", ArtistOptions(device="cpu"))
    assert "SWD" in str(err.value) and "185.0" in str(err.value)
    assert "\n" not in str(err.value)


def test_the_shipped_weights_and_the_test_weights_load(tiny_weights: Path) -> None:
    shipped = Artist(REPO / "weights", REPO / "weights" / "seeds.json",
                     ArtistOptions(device="cpu"))
    assert shipped.seeds.seeds and shipped.draw("r1").data
    assert Artist(tiny_weights, tiny_weights / "seeds.json",
                  ArtistOptions(device="cpu")).draw("r1").data  # no dry_run, no SWD: served


def test_bot_check_refuses_a_dry_run_export(people_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    train = subprocess.run(
        [sys.executable, "-m", "model.train", "--data", str(people_dir), "--out", str(out),
         "--dry-run", "--cache-dir", str(tmp_path / "cache"), "--image-size", "32",
         "--width", "8"], env={**bot_env(), "OMP_NUM_THREADS": "1"}, cwd=REPO,
        capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stderr[-2000:]
    result = subprocess.run([sys.executable, "-m", "bot", "check"], capture_output=True,
                            text=True, cwd=tmp_path, env=bot_env(BOT_WEIGHTS_DIR=str(out)),
                            timeout=120)
    assert result.returncode == 78, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "dry run" in errors[0] and str(out) in errors[0]


def test_a_missing_explicit_seeds_path_stops_the_start(tmp_path: Path,
                                                       tiny_weights: Path) -> None:
    missing = tmp_path / "seeds-typo.json"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "generate", "--out", str(tmp_path / "x.png")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env=bot_env(BOT_WEIGHTS_DIR=str(tiny_weights), BOT_SEEDS_PATH=str(missing)))
    assert result.returncode == 78, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "BOT_SEEDS_PATH" in errors[0] and str(missing) in errors[0]
    assert not (tmp_path / "x.png").exists()  # no picture from the plain prior instead


def test_a_misspelt_variable_is_named_at_start_without_its_value(tmp_path: Path,
                                                                  tiny_weights: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "generate", "--out", str(tmp_path / "x.png")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env=bot_env(BOT_WEIGHTS_DIR=str(tiny_weights), BOT_SIGAM="0.3125",
                    BOT_MASTODON__ACESS_TOKEN="tok-9f8e7d"))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "is not a setting" in line]
    assert len(warnings) == 2
    assert any("BOT_SIGAM" in w and "did you mean BOT_SIGMA?" in w for w in warnings)
    assert any("did you mean BOT_MASTODON__ACCESS_TOKEN?" in w for w in warnings)
    assert "0.3125" not in result.stderr + result.stdout
    assert "tok-9f8e7d" not in result.stderr + result.stdout


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(),
                    reason="needs git and a checkout")
def test_what_the_bot_and_the_trainer_write_is_ignored_by_git() -> None:
    paths = ["local/outbox/reply-1.png", "local/inbox/a.txt", "state/bot.sqlite3",
             "runs/emoji/ckpt.pt"]
    result = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=REPO,
                            capture_output=True, text=True, timeout=30)
    assert result.stdout.split() == paths
    kept = subprocess.run(["git", "check-ignore", "--no-index", "bot/state/store.py",
                           "bot/platforms/local.py"], cwd=REPO, capture_output=True,
                          text=True, timeout=30)
    assert kept.stdout == ""  # the sources of the same names are not

"""Corrupt weights and seeds are refused, never served as black pictures (issue 31, 4): the
card's sha256 of each weights file, finite tensors and seeds, a start-up drawing that must not
come out as one colour. One line and exit 78 for the bot and `check`; at SIGHUP the old weights
stay."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from bot.__main__ import main
from bot.cli.parts import make_artist
from bot.config import load_settings
from bot.platforms.local import LocalPlatform
from bot.service import Clock, Service
from bot.state.store import State
from model.errors import UserError
from model.nets.dcgan import Generator
from model.nets.weights import (
    CARD_FILE,
    DISCRIMINATOR_FILE,
    WEIGHTS_FILE,
    load_generator,
    save_generator,
)
from model.serve.seeds import Seed, SeedBook, load_seeds, save_seeds
from tests.helpers import TINY

REPO = Path(__file__).resolve().parent.parent


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_the_shipped_card_records_the_sha256_of_its_weights_files() -> None:
    card = json.loads((REPO / "weights" / CARD_FILE).read_text())
    for name in (WEIGHTS_FILE, DISCRIMINATOR_FILE):
        assert card["sha256"][name] == hashlib.sha256(
            (REPO / "weights" / name).read_bytes()).hexdigest(), name


def test_random_bytes_inside_the_shipped_weights_stop_check_and_generate(tmp_path: Path) -> None:
    """The issue's reproduction: 50 KB of random bytes inside generator.safetensors, past its
    header, so that the file still parses. Before: check said ok, generate wrote a black PNG."""
    weights = tmp_path / "weights"
    shutil.copytree(REPO / "weights", weights)
    path = weights / WEIGHTS_FILE
    data = bytearray(path.read_bytes())
    start = len(data) // 2
    data[start:start + 50_000] = torch.randint(0, 256, (50_000,), dtype=torch.uint8,
                                               generator=torch.Generator().manual_seed(0)
                                               ).numpy().tobytes()
    path.write_bytes(bytes(data))
    env = {**os.environ, "PYTHONPATH": str(REPO), "BOT_WEIGHTS_DIR": str(weights),
           "BOT_LOCAL__STDIN": "false", "BOT_DAILY_POST_ENABLED": "false"}
    runs = {c: subprocess.Popen([sys.executable, "-m", "bot", *c.split()], cwd=tmp_path,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
            for c in ("check", "generate --out h.png")}
    for command, proc in runs.items():
        _, err = proc.communicate(timeout=180)
        [line] = errors(err)
        assert proc.returncode == 78, (command, err)
        assert str(path) in line and "sha256" in line and "restore weights/ from git" in line
        assert "Traceback" not in err
    assert not (tmp_path / "h.png").exists()


def _nan_inside(weights: Path) -> None:
    """A NaN in one tensor of the generator, written as a valid safetensors file."""
    path = weights / WEIGHTS_FILE
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    name = next(k for k, t in tensors.items() if t.is_floating_point() and t.numel() > 1)
    tensors[name].view(-1)[0] = float("nan")
    save_file(tensors, str(path), meta)


def test_a_nan_in_the_weights_is_refused_with_or_without_a_recorded_sha256(
        tiny_weights: Path) -> None:
    _nan_inside(tiny_weights)
    with pytest.raises(UserError, match="sha256") as err:  # the exporter recorded the digest
        load_generator(tiny_weights)
    assert "\n" not in str(err.value)
    card = json.loads((tiny_weights / CARD_FILE).read_text())
    del card["sha256"]  # a hand-made or older card: the values themselves are checked
    (tiny_weights / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(UserError, match="not finite") as err:
        load_generator(tiny_weights)
    assert "\n" not in str(err.value)


def test_a_nan_in_a_seed_is_one_line_and_exit_78(bot_env: Path, tiny_weights: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    z = [0.1] * TINY.z_dim
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [Seed(1, z), Seed(2, z)]))
    text = (tiny_weights / "seeds.json").read_text()
    bad = json.loads(text)
    bad["seeds"][1]["z"][3] = float("nan")  # json writes NaN, and reads it back
    (tiny_weights / "seeds.json").write_text(json.dumps(bad))
    monkeypatch.setenv("BOT_WEIGHTS_DIR", str(tiny_weights))
    monkeypatch.setenv("BOT_LOCAL__STDIN", "false")
    for command in (["check"], ["generate", "--out", "h.png"]):
        assert main(command) == 78
        [line] = errors(capsys.readouterr().err)
        assert "seed #2" in line and "not finite" in line
    assert not (bot_env / "h.png").exists()


def test_a_wrong_length_seed_suggests_the_backup_only_when_there_is_one(tmp_path: Path) -> None:
    path = tmp_path / "seeds.json"
    path.write_text(json.dumps({"version": 1, "z_dim": 3, "seeds": [{"id": 7, "z": [1, 2]}]}))
    with pytest.raises(UserError) as err:
        load_seeds(path, 3)
    assert "seed #7" in str(err.value) and ".bak" not in str(err.value)  # there is none
    shutil.copy(path, tmp_path / "seeds.json.bak")
    with pytest.raises(UserError) as err:
        load_seeds(path, 3)
    assert f"restore its backup {tmp_path / 'seeds.json.bak'}" in str(err.value)


def _one_colour(weights: Path) -> None:
    """A generator exported with every weight zero: a valid file, its card's sha256 right,
    every value finite, and every picture one flat grey."""
    g = Generator(TINY)
    with torch.no_grad():
        for p in g.parameters():
            p.zero_()
    save_generator(weights, g, TINY, {"note": "collapsed"})


def test_a_generator_that_draws_one_colour_is_refused_at_start_and_at_sighup(
        bot_env: Path, tiny_weights: Path) -> None:
    settings = load_settings(weights_dir=tiny_weights, state_path=bot_env / "s.db",
                             local={"inbox": bot_env / "in", "outbox": bot_env / "out",
                                    "stdin": False}, daily_post_enabled=False)
    clock = Clock()
    service = Service(settings, LocalPlatform(settings.local, wake=clock.wake),
                      make_artist(settings), State(settings.state_path), clock,
                      load_artist=lambda: make_artist(settings))
    good = service.artist
    _one_colour(tiny_weights)
    with pytest.raises(UserError, match="one colour") as err:
        make_artist(settings)
    assert "\n" not in str(err.value) and "test drawing" in str(err.value)
    assert not service.reload()  # SIGHUP: refused, the old weights stay and draw
    assert service.artist is good and service.artist.draw("still").data
    service.state.close()


def test_check_refuses_a_generator_that_draws_one_colour(bot_env: Path, tiny_weights: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    _one_colour(tiny_weights)
    monkeypatch.setenv("BOT_WEIGHTS_DIR", str(tiny_weights))
    monkeypatch.setenv("BOT_LOCAL__STDIN", "false")
    assert main(["check"]) == 78
    [line] = errors(capsys.readouterr().err)
    assert "one colour" in line and str(tiny_weights) in line

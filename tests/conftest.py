"""Shared fixtures: a small real image folder and a small real weights folder."""

from __future__ import annotations

import os
import random
from collections.abc import MutableMapping
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from model.nets.dcgan import Generator
from model.nets.weights import save_generator
from tests.helpers import TINY

pytest_plugins = ["tests.secret_audit", "pytester"]  # the audit: no secret in any output


def forget_the_operator(environ: MutableMapping[str, str]) -> list[str]:
    """Remove the operator's settings (BOT_*, and systemd's CREDENTIALS_DIRECTORY, the secrets
    folder) from an environment; the names removed."""
    names = [k for k in environ if k.startswith("BOT_") or k == "CREDENTIALS_DIRECTORY"]
    for name in names:
        del environ[name]
    return names


# Now, as this file is loaded: before any test module is imported, so that settings read at
# a module's import (collection) see no more of the shell than a test does. The fixture
# _no_outer_bot_settings below undoes, per test, what a test sets without monkeypatch.
forget_the_operator(os.environ)

# Under pytest-xdist (`make test` runs one worker per core) each worker gets its share of the
# cores: torch's default of a thread per core in every worker oversubscribes the machine, and
# its spinning threads then run several times slower than one thread each.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ["OMP_NUM_THREADS"] = str(_share)  # for the subprocesses a test starts, too
    torch.set_num_threads(_share)


def draw_people(folder: Path, n: int, size: int = 48, seed: int = 0) -> list[Path]:
    """n simple stick-figure pictures on white: a head and a body in random colours."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = Image.new("RGB", (size, size), "white")
        d = ImageDraw.Draw(img)
        colour = tuple(rng.randrange(256) for _ in range(3))
        cx = size // 2 + rng.randrange(-4, 5)
        d.ellipse([cx - 8, 4, cx + 8, 20], fill=(240, 200, 160))
        d.rectangle([cx - 10, 22, cx + 10, size - 4], fill=colour)
        path = folder / f"person_{i:03d}.png"
        img.save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def people_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("people")
    draw_people(folder, 24)
    return folder




@pytest.fixture
def tiny_weights(tmp_path: Path) -> Path:
    """A weights folder with a small random generator, exported as the trainer does."""
    torch.manual_seed(0)
    g = Generator(TINY)
    folder = tmp_path / "weights"
    save_generator(folder, g, TINY, {"images_seen": 0, "note": "random test generator"})
    return folder


@pytest.fixture(autouse=True)
def _no_outer_bot_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the BOT_* variables of the shell that runs the suite (an operator's token
    or platform would change what the bot does); a subprocess started with os.environ inherits
    the clean environment too."""
    for key in list(os.environ):
        if key.startswith("BOT_"):
            monkeypatch.delenv(key)


@pytest.fixture
def bot_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory (no stray .env, state or outbox from elsewhere)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A mastodon-mock server (a real Mastodon API on loopback) for one test module, seeded
    with that module's SEED accounts (a mastodon_mock SeedConfig)."""
    testing = pytest.importorskip("mastodon_mock.testing")
    with testing.MockServer(seed=request.module.SEED) as srv:
        yield srv


@pytest.fixture
def srv(server):  # type: ignore[no-untyped-def]
    """The module's server, reset, with Mastodon 4.3's notification policy on the bot."""
    from tests.helpers import reset_server

    return reset_server(server)


@pytest.fixture(scope="module")
def single_thread():  # type: ignore[no-untyped-def]
    """Torch on one thread for a whole test module (`pytestmark = pytest.mark.usefixtures(
    "single_thread")`): small tensors run as fast on one, far faster when other jobs share the
    CPU, and bit-exact comparisons need it (with two, some kernels split their sums
    differently from run to run)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

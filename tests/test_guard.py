"""The guard: of k candidates near a seed, the bot sends the one the discriminator ranks best
(rank, never threshold), deterministically per request id; D travels with G in weights/."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from model.nets.dcgan import Discriminator
from model.nets.weights import (
    DISCRIMINATOR_FILE,
    load_discriminator,
    read_card,
    save_discriminator,
)
from model.serve.guard import Guard, load_guard
from model.serve.latents import near_seed, request_rng
from model.serve.reply import ServeOptions, serve, served_images
from model.serve.sampler import Sampler
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import TINY

REPO = Path(__file__).resolve().parent.parent
FITTED = {"fitted_for_serving": True}  # as python -m model.guard records a guard


class Brightness(torch.nn.Module):
    """A purpose-made 'discriminator': the brighter the picture, the more real."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3))


@pytest.fixture
def book() -> SeedBook:
    return SeedBook(TINY.z_dim, [Seed(3, [0.5] * TINY.z_dim), Seed(9, [-0.5] * TINY.z_dim)])


def candidates(sampler: Sampler, book: SeedBook, request_id: str, k: int) -> torch.Tensor:
    """The k candidates serve() draws for a request (same rng stream)."""
    rng = request_rng(request_id)
    seed = book.seeds[int(torch.randint(len(book.seeds), (1,), generator=rng))]
    return sampler.generate(near_seed(seed.tensor(), k, 0.5, rng))


def test_the_candidate_the_discriminator_ranks_best_is_sent(tiny_weights: Path,
                                                            book: SeedBook) -> None:
    sampler = Sampler.load(tiny_weights, "cpu")
    guard = Guard(Brightness(), torch.device("cpu"))
    for request in ("a", "b", "c"):
        served = serve(sampler, book, request, ServeOptions(best_of=8), guard)
        pool = candidates(sampler, book, request, 8)  # (8, 3, S, S)
        brightness = pool.float().mean(dim=(1, 2, 3))
        assert torch.equal(served.image, pool[int(brightness.argmax())])
        assert brightness.argmax() != brightness.argmin()  # the ranking had something to do
        assert served.score == pytest.approx(float(guard.scores(served.image[None])[0]))


def test_a_bf16_guard_draws_and_ranks_the_candidates_in_bf16_and_sends_the_best(
        tiny_weights: Path, book: SeedBook) -> None:
    """Where bf16 is native the candidates are drawn in it (half G's cost) and the best is
    sent as drawn: within a few levels of its fp32 drawing."""
    sampler = Sampler.load(tiny_weights, "cpu")
    guard = Guard(Brightness(), torch.device("cpu"), bf16=True)
    for request in ("a", "b", "c"):
        served = serve(sampler, book, request, ServeOptions(best_of=8), guard)
        rng = request_rng(request)
        seed = book.seeds[int(torch.randint(len(book.seeds), (1,), generator=rng))]
        z = near_seed(seed.tensor(), 8, 0.5, rng)  # the 8 candidates, (8, z_dim)
        drafts = sampler.generate(z, bf16=True)
        best = int(drafts.float().mean(dim=(1, 2, 3)).argmax())
        assert torch.equal(served.z, z[best]) and torch.equal(served.image, drafts[best])
        fp32 = sampler.generate(z[best:best + 1])[0]
        assert (served.image.int() - fp32.int()).abs().float().mean() < 2
        assert served.score == pytest.approx(float(guard.scores(drafts[best:best + 1])[0]))


def test_rank_never_threshold_and_one_candidate_without_a_guard(tiny_weights: Path,
                                                                book: SeedBook) -> None:
    sampler = Sampler.load(tiny_weights, "cpu")

    class Hopeless(torch.nn.Module):  # finds everything fake: a picture is still sent
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return -1e6 - x.mean(dim=(1, 2, 3))

    served = serve(sampler, book, "r", ServeOptions(best_of=4), Guard(Hopeless(), "cpu"))
    assert served.image.shape == (3, TINY.image_size, TINY.image_size) and served.score < 0
    plain = serve(sampler, book, "r", ServeOptions(best_of=4), None)
    assert torch.equal(plain.image, candidates(sampler, book, "r", 1)[0]) and plain.score is None


def test_the_same_request_id_sends_the_same_picture(tiny_weights: Path, book: SeedBook) -> None:
    sampler = Sampler.load(tiny_weights, "cpu")
    guard = Guard(Brightness(), torch.device("cpu"))
    a = serve(sampler, book, "mastodon:1", ServeOptions(), guard)
    again = serve(sampler, book, "mastodon:1", ServeOptions(), guard)
    other = serve(sampler, book, "mastodon:2", ServeOptions(), guard)
    assert torch.equal(a.image, again.image) and torch.equal(a.z, again.z)
    assert not torch.equal(a.z, other.z)
    batch = served_images(sampler, book, 3, ServeOptions(), guard, seed=5)
    assert torch.equal(batch[1], serve(sampler, book, "eval-5-1", ServeOptions(), guard).image)


def test_the_discriminator_round_trips_and_gets_its_own_card_entry(tiny_weights: Path) -> None:
    torch.manual_seed(1)
    d = Discriminator(TINY).eval()
    save_discriminator(tiny_weights, d, TINY, {"images_seen": 123, **FITTED})
    card = read_card(tiny_weights)
    assert card["discriminator"]["file"] == DISCRIMINATOR_FILE
    assert card["discriminator"]["images_seen"] == 123 and card["note"]  # G's entries kept
    loaded = load_discriminator(tiny_weights)
    x = torch.rand(4, 3, TINY.image_size, TINY.image_size) * 2 - 1
    with torch.inference_mode():
        assert torch.allclose(loaded(x), d(x))
    assert isinstance(load_guard(tiny_weights, "cpu"), Guard)
    (tiny_weights / DISCRIMINATOR_FILE).unlink()
    assert load_guard(tiny_weights, "cpu") is None  # no D: served without the guard


def test_the_trainer_exports_the_discriminator_unfitted_until_model_guard_fits_it(
        tmp_path: Path, people_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    from model.train.fit_guard import fit_guard

    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "model.train", "--data", str(people_dir), "--out", str(out),
         "--image-size", "32", "--width", "8", "--dry-run", "--cache-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr
    card = json.loads((out / "generator.json").read_text())
    assert card["discriminator"]["file"] == DISCRIMINATOR_FILE
    assert card["discriminator"]["steps"] == card["steps"]
    assert card["discriminator"]["fitted_for_serving"] is False
    assert load_discriminator(out).config.image_size == 32  # kept for model.guard to start from
    # trained on augmented pictures, it would rank broken ones first: served without a guard
    with caplog.at_level(logging.WARNING, logger="model.serve"):
        assert load_guard(out, "cpu") is None
    assert "not fitted for serving" in caplog.text and f"model.guard {out}" in caplog.text

    entry = fit_guard(out, str(people_dir), minutes=None, kimg=0.05, batch=16, device="cpu",
                      cache_dir=tmp_path)
    assert entry["started_from"] == "the exported discriminator"
    assert read_card(out)["discriminator"]["fitted_for_serving"] is True
    assert isinstance(load_guard(out, "cpu"), Guard)
    assert isinstance(load_guard(REPO / "weights", "cpu"), Guard)  # the shipped, fitted one


def test_the_bot_serves_an_unfitted_discriminator_without_a_guard(tiny_weights: Path,
                                                                  book: SeedBook) -> None:
    from bot.drawing.artist import Artist, ArtistOptions
    from model.nets.weights import TRAINING_DISCRIMINATOR

    save_seeds(tiny_weights / "seeds.json", book)
    save_discriminator(tiny_weights, Discriminator(TINY), TINY, dict(TRAINING_DISCRIMINATOR))
    options = ArtistOptions(device="cpu", best_of=4)
    unfitted = Artist(tiny_weights, tiny_weights / "seeds.json", options)
    plain = Artist(tiny_weights, tiny_weights / "seeds.json", ArtistOptions(device="cpu",
                                                                             best_of=1))
    assert unfitted.guard is None
    assert unfitted.draw("r").data == plain.draw("r").data  # the first candidate, unranked
    save_discriminator(tiny_weights, Discriminator(TINY), TINY, FITTED)
    assert isinstance(Artist(tiny_weights, tiny_weights / "seeds.json", options).guard, Guard)


def test_generate_n_writes_the_replies_the_bot_would_send(bot_env: Path, tiny_weights: Path,
                                                          book: SeedBook) -> None:
    import os

    save_seeds(tiny_weights / "seeds.json", book)
    save_discriminator(tiny_weights, Discriminator(TINY), TINY, FITTED)
    env = dict(os.environ)
    env.update(BOT_WEIGHTS_DIR=str(tiny_weights), PYTHONPATH=str(REPO), BOT_BEST_OF="4")
    out = bot_env / "replies"
    out.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot", "generate", *args], cwd=bot_env,
                              env=env, capture_output=True, text=True, timeout=120)

    assert run("--n", "3", "--out", str(out), "--request-id", "eval").returncode == 0
    index = json.loads((out / "replies.json").read_text())
    assert [r["request_id"] for r in index] == ["eval-0000", "eval-0001", "eval-0002"]
    assert {r["seed_id"] for r in index} <= {3, 9}
    for r in index:  # each is the reply the bot sends for that request id
        assert run("--out", str(bot_env / "one.png"), "--request-id", r["request_id"]
                   ).returncode == 0
        assert (bot_env / "one.png").read_bytes() == (out / r["file"]).read_bytes()
        assert Image.open(out / r["file"]).size == (256, 256)  # 8x the 32 px test model
    made = run("--n", "2", "--out", str(bot_env / "new" / "folder"))  # made, as model.sample
    assert made.returncode == 0 and len(list((bot_env / "new" / "folder").glob("*.png"))) == 2


def test_fitting_the_guard_teaches_d_to_tell_the_served_pictures_from_real(
        tiny_weights: Path, people_dir: Path, tmp_path: Path) -> None:
    from model.train.fit_guard import fit_guard

    entry = fit_guard(tiny_weights, str(people_dir), minutes=None, kimg=1.5, batch=16,
                      from_scratch=True, device="cpu", cache_dir=tmp_path)
    assert entry["started_from"] == "a new discriminator" and entry["images_seen"] >= 1500
    # the random 32 px generator draws grey noise; the people are on white: D tells them apart
    assert entry["mean_logit_real"] > entry["mean_logit_generated"] + 1.0
    assert read_card(tiny_weights)["discriminator"]["trained_against"].startswith("the exported")
    again = fit_guard(tiny_weights, str(people_dir), minutes=None, kimg=0.1, batch=16,
                      device="cpu", cache_dir=tmp_path)
    assert again["started_from"] == "the exported discriminator"
    assert again["real_images"] == 24 and again["held_out"] == 0


def test_a_comparison_runs_guard_is_fitted_without_the_held_out_images(
        tiny_weights: Path, people_dir: Path, tmp_path: Path) -> None:
    from model.data.images import load_dataset
    from model.data.split import heldout_mask, image_groups
    from model.train.fit_guard import fit_guard

    entry = fit_guard(tiny_weights, str(people_dir), minutes=None, kimg=0.032, batch=8,
                      device="cpu", cache_dir=tmp_path, held_out=0.25)
    data = load_dataset(str(people_dir), 32, tmp_path)
    held = int(heldout_mask(image_groups(data), 0.25).sum())
    assert entry["real_images"] == len(data) - held < len(data)
    assert read_card(tiny_weights)["discriminator"]["held_out"] == 0.25


def test_an_unknown_seed_names_the_known_ones_as_ranges(tiny_weights: Path) -> None:
    from bot.drawing.artist import Artist, ArtistOptions

    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [
        Seed(i, [0.1 * i] * TINY.z_dim) for i in (1, 2, 3, 4, 5, 9)]))
    artist = Artist(tiny_weights, tiny_weights / "seeds.json", ArtistOptions(device="cpu"))
    with pytest.raises(ValueError, match=r"no seed #7 in .* \(known: 1-5, 9\)$"):
        artist.draw("r", seed_id=7)

"""Tests for model.evaluate (plain and served scoring, the CLI) and the held-out split of
model.data it relies on, on small drawn data sets and tiny random generators."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from model.data.images import load_folder
from model.data.split import heldout_mask, image_group, image_groups
from model.errors import UserError
from model.evaluate.__main__ import main
from model.evaluate.memorisation import heldout_memorisation
from model.evaluate.score import evaluate, reference, score_samples
from model.evaluate.swd import sliced_wasserstein
from model.nets.config import GANConfig
from model.nets.dcgan import Discriminator, Generator
from model.nets.weights import save_discriminator, save_generator
from model.serve.sampler import Sampler
from model.serve.seeds import Seed, SeedBook, save_seeds
from tests.helpers import TINY

TONES = ("", "1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF")
SKIN = {"": (255, 204, 0), "1F3FB": (247, 222, 206), "1F3FC": (243, 210, 162),
        "1F3FD": (213, 171, 136), "1F3FE": (175, 126, 87), "1F3FF": (124, 83, 62)}


def _emoji_name(index: int, base: list[str], tone: str) -> str:
    """A file name shaped like the built-in set's: the tone goes after the first code point."""
    codes = [base[0], tone, *base[1:]] if tone else base
    return f"{index:04d}_person-role_{'-'.join(codes)}.png"


def draw_emoji_like(folder: Path, bases: int, size: int = 32, seed: int = 0) -> list[str]:
    """bases x 6 skin tones of made-up emoji: one figure per base, only the skin colour changes,
    so, as with the real emoji, an image's nearest neighbour is its own skin-tone variant."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names, index = [], 0
    for b in range(bases):
        base = [f"1F{0x400 + b:03X}"] + (["200D", "1F373"] if b % 3 == 0 else [])
        colour = tuple(rng.randrange(256) for _ in range(3))
        x, y, r = rng.randrange(8, size - 8), rng.randrange(8, size - 8), rng.randrange(3, 7)
        for tone in TONES:
            img = Image.new("RGB", (size, size), "white")
            d = ImageDraw.Draw(img)
            d.rectangle([x - r, y, x + r, size - 2], fill=colour)
            d.ellipse([x - 4, y - 8, x + 4, y], fill=SKIN[tone])
            name = _emoji_name(index, base, tone)
            img.save(folder / name)
            names.append(name)
            index += 1
    return names


@pytest.fixture(scope="module")
def emoji_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("emoji")
    draw_emoji_like(folder, 40)
    return folder


# ---------------------------------------------------------------- the split


def test_group_drops_skin_tones_only() -> None:
    cook = "1F469-200D-1F373"
    variants = {image_group(_emoji_name(i, cook.split("-"), t)) for i, t in enumerate(TONES)}
    assert variants == {"emoji:1F469-200D-1F373"}
    # two people with two tones: one group, whatever the tones
    couple = "0700_family_1F9D1-1F3FB-200D-1F91D-200D-1F9D1-1F3FD.png"
    assert image_group(couple) == image_group("0701_family_1F9D1-200D-1F91D-200D-1F9D1.png")
    assert image_group("0001_person_1F476-1F3FB.png") != image_group("0002_person_1F467-1F3FB.png")
    assert image_group("0003_person_1F6B6-200D-27A1-FE0F.png") == image_group(
        "0004_person_1F6B6.png")  # facing right: a mirror image of the base
    # anything else is its own group
    assert image_group("holiday/IMG_0001.jpg") == "holiday/IMG_0001.jpg"
    assert image_group("0001_x_notcodes.png") == "0001_x_notcodes.png"


def test_split_keeps_variants_together_and_is_deterministic(emoji_dir: Path,
                                                            tmp_path: Path) -> None:
    data = load_folder(emoji_dir, 32, tmp_path / "cache")
    groups = image_groups(data)
    assert groups is not None and len(set(groups)) == 40
    mask = heldout_mask(groups)
    held = {g for g, h in zip(groups, mask.tolist(), strict=True) if h}
    kept = {g for g, h in zip(groups, mask.tolist(), strict=True) if not h}
    assert not held & kept  # no base emoji on both sides
    assert len(held) == 8 and int(mask.sum()) == 8 * 6  # 20 % of the groups, all six tones
    assert torch.equal(heldout_mask(groups), mask)  # deterministic
    order = list(range(len(groups)))
    random.Random(1).shuffle(order)
    shuffled = heldout_mask([groups[i] for i in order])
    assert [shuffled[j].item() for j in range(len(order))] == [mask[i].item() for i in order]
    assert not torch.equal(heldout_mask(groups, seed=1), mask)  # the seed picks the groups


def test_group_split_makes_heldout_really_new(emoji_dir: Path, tmp_path: Path) -> None:
    """Why groups: split single files and a held-out image's nearest training image is its own
    skin-tone variant, so the baseline distance collapses (and nothing new can fall below it)."""
    data = load_folder(emoji_dir, 32, tmp_path / "cache")
    images = data.images
    by_group = heldout_mask(image_groups(data))
    by_file = heldout_mask([str(i) for i in range(len(images))])
    grouped = heldout_memorisation(images[:6], images[~by_group], images[by_group])
    single = heldout_memorisation(images[:6], images[~by_file], images[by_file])
    assert single.heldout_median < grouped.heldout_median / 3


def test_split_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2 groups"):
        heldout_mask(["a", "a", "a"])
    with pytest.raises(ValueError, match="fraction"):
        heldout_mask(["a", "b"], fraction=1.0)
    mask = heldout_mask(["a", "b"], fraction=0.01)  # at least one held out, never all
    assert int(mask.sum()) == 1


def test_dataset_names_survive_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    names = draw_emoji_like(folder, 2, size=24)
    (folder / "sub").mkdir()
    Image.new("RGB", (24, 24), "red").save(folder / "sub" / "z.png")
    (folder / "broken.png").write_bytes(b"not a png")  # skipped: names must stay aligned
    cache = tmp_path / "cache"
    first = load_folder(folder, 16, cache)
    assert first.names == (*sorted(names), "sub/z.png")
    assert len(first.names) == len(first) == 13
    again = load_folder(folder, 16, cache)  # from the cache and its names file
    assert again.names == first.names
    assert torch.equal(again.images, first.images)
    # a cache written before names files existed: unknown which file was skipped
    (sidecar,) = cache.glob("images-*.names.json")
    sidecar.unlink()
    assert load_folder(folder, 16, cache).names is None
    (folder / "broken.png").unlink()  # no skipped file: the file list is the names
    fresh = load_folder(folder, 16, cache)
    assert fresh.names == first.names
    assert not list(cache.glob("images-*.names.json"))  # so no names file is written
    assert load_folder(folder, 16, cache).names == fresh.names
    assert image_groups(fresh)[0] == image_groups(fresh)[5]  # six tones of one base


# ---------------------------------------------------------------- evaluate()


def test_evaluate_keys_and_compatibility(emoji_dir: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    sampler = Sampler(Generator(TINY).eval(), {}, torch.device("cpu"))
    data = load_folder(emoji_dir, 32, tmp_path / "cache")
    result = evaluate(sampler, data.images, 32, seed=3, groups=image_groups(data))
    # what model.train.export and the trainers' scores read
    assert {"swd", "memorisation_share", "samples", "real"} <= result.keys()
    assert {"precision", "recall", "density", "coverage", "memorisation"} <= result.keys()
    assert result["memorisation_share"] == result["memorisation"]["share"]
    assert (result["samples"], result["real"]) == (32, 32)
    assert result["memorisation"]["heldout"] == 48
    assert evaluate(sampler, data.images, 32, seed=3, groups=image_groups(data)) == result
    # SWD is what it was before the held-out scoring: the same latents and real subset
    gen = torch.Generator().manual_seed(3)
    fakes = sampler.generate(torch.randn(32, TINY.z_dim, generator=gen))
    real = data.images[torch.randperm(len(data), generator=gen)[:32]]
    assert result["swd"] == asdict(sliced_wasserstein(real, fakes, seed=3))
    # without groups it still runs, splitting single images
    assert evaluate(sampler, data.images, 32, seed=3)["memorisation"]["heldout"] == 48


def test_score_samples_copies_and_new(emoji_dir: Path, tmp_path: Path) -> None:
    data = load_folder(emoji_dir, 32, tmp_path / "cache")
    ref = reference(data.images, 60, z_dim=8, groups=image_groups(data))
    train = data.images[~ref.heldout]
    copies = score_samples(train[:40], ref)
    assert copies["memorisation_share"] == 1.0
    assert copies["precision"] > 0.9
    heldout = score_samples(data.images[ref.heldout], ref)  # new pictures of the same kind
    assert heldout["memorisation_share"] < 0.1
    assert heldout["memorisation"]["median_ratio"] == pytest.approx(1.0)


def test_reference_bad_input() -> None:
    one = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(ValueError, match="at least 2 real images"):
        reference(one, 4, 8)
    with pytest.raises(ValueError, match="groups"):
        reference(torch.zeros(3, 3, 32, 32, dtype=torch.uint8), 4, 8, groups=["a"])


# ---------------------------------------------------------------- the CLI


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, dict]:
    out_json = Path(argv[argv.index("--json") + 1])
    assert main(list(argv)) == 0
    return capsys.readouterr().out, json.loads(out_json.read_text())


def test_cli_plain_and_served(tiny_weights: Path, emoji_dir: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    base = [str(tiny_weights), "--data", str(emoji_dir), "--n", "12", "--cache-dir",
            str(tmp_path / "cache"), "--json", str(tmp_path / "s.json")]
    out, result = _run(capsys, *base)
    assert "no seeds (so the plain prior)" in out and "no guard" in out
    assert set(result["scores"]) == {"32"}
    plain, served = result["scores"]["32"]["plain"], result["scores"]["32"]["served"]
    for scores in (plain, served):
        assert set(scores["swd"]) == {"resolutions", "per_level", "mean"}
        assert 0.0 <= scores["precision"] <= 1.0 and 0.0 <= scores["coverage"] <= 1.0
        assert 0.0 <= scores["memorisation"]["share"] <= 1.0
    assert result["split"] == {"images": 240, "train": 192, "heldout": 48, "by": "group",
                               "groups": 40, "heldout_groups": 8}
    assert [line.split()[:2] for line in out.splitlines()[3:5]] == [["32", "plain"],
                                                                    ["32", "served"]]

    # with good seeds and a discriminator: served pictures come from near the seeds, guarded
    save_seeds(tiny_weights / "seeds.json", SeedBook(TINY.z_dim, [Seed(1, [3.0] * 8)]))
    save_discriminator(tiny_weights, Discriminator(TINY).eval(), TINY,
                       {"fitted_for_serving": True})  # a guard, as model.guard records one
    out, result = _run(capsys, *base, "--sigma", "0.1", "--best-of", "2")
    assert "1 seeds" in out and "best of 2 by the discriminator" in out
    assert result["served"]["guard"] is True and result["served"]["sigma"] == 0.1
    near = result["scores"]["32"]["served"]
    assert near != served and result["scores"]["32"]["plain"] == plain  # plain unchanged

    _, result = _run(capsys, *base, "--no-served")
    assert set(result["scores"]["32"]) == {"plain"}


def test_cli_128_px_also_scores_at_64(emoji_dir: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = GANConfig(z_dim=8, image_size=128, g_width=4, d_width=4)
    torch.manual_seed(0)
    save_generator(tmp_path / "w128", Generator(config), config, {"note": "test"})
    argv = [str(tmp_path / "w128"), "--data", str(emoji_dir), "--n", "8", "--no-served",
            "--cache-dir", str(tmp_path / "cache"), "--json", str(tmp_path / "s.json")]
    out, result = _run(capsys, *argv)
    assert list(result["scores"]) == ["128", "64"]
    assert result["scores"]["128"]["plain"]["swd"]["resolutions"] == [128, 64, 32, 16]
    assert result["scores"]["64"]["plain"]["swd"]["resolutions"] == [64, 32, 16]
    assert "128  plain" in out and "  64  plain" in out
    with pytest.raises(UserError, match="--size 256"):
        main([*argv, "--size", "256"])


def test_cli_bad_input(tiny_weights: Path, emoji_dir: Path) -> None:
    with pytest.raises(UserError, match="--n must be more than 5"):
        main([str(tiny_weights), "--data", str(emoji_dir), "--n", "5"])
    with pytest.raises(UserError, match="sigma"):
        main([str(tiny_weights), "--data", str(emoji_dir), "--n", "8", "--sigma", "-1"])


def test_evaluate_real_numbers_order(emoji_dir: Path, tmp_path: Path) -> None:
    """Through score_samples: real pictures beat a collapsed set on recall and coverage."""
    data = load_folder(emoji_dir, 32, tmp_path / "cache")
    ref = reference(data.images, 120, z_dim=8, groups=image_groups(data))
    rest = np.setdiff1d(np.arange(len(data)), ref.subset.numpy())
    real = score_samples(data.images[torch.from_numpy(rest)], ref)
    collapsed = score_samples(data.images[:1].repeat(120, 1, 1, 1), ref)
    assert real["recall"] > collapsed["recall"] + 0.5
    assert real["coverage"] > collapsed["coverage"] + 0.5

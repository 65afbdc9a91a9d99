"""Tests for the metrics (model.evaluate.swd, .prdc, .memorisation, .features) on a synthetic
data set of people-like figures drawn with PIL, and on toy points."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from model.evaluate import prdc as prdc_module
from model.evaluate import swd as swd_module
from model.evaluate.features import FEATURE_DIM, downscale_uint8, random_features
from model.evaluate.memorisation import heldout_memorisation, heldout_memorisation_features
from model.evaluate.prdc import prdc
from model.evaluate.swd import SWDResult, sliced_wasserstein

SIZE = 64
PER_SET = 128


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, size=3))


def _person(rng: np.random.Generator) -> Image.Image:
    """A flat 'illustration': a figure (head, body, legs) and a prop on white, random sizes."""
    img = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(img)
    if rng.random() < 0.5:  # a background prop: rectangle or ellipse
        x0, y0 = (int(v) for v in rng.integers(0, SIZE - 16, size=2))
        box = (x0, y0, x0 + int(rng.integers(8, 16)), y0 + int(rng.integers(8, 16)))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=_colour(rng))
    scale = rng.uniform(0.7, 1.1)
    cx = int(rng.integers(20, SIZE - 20))
    top = int(rng.integers(2, 10))
    head = int(7 * scale)
    skin = (int(rng.integers(120, 256)), int(rng.integers(80, 200)), int(rng.integers(60, 170)))
    draw.ellipse((cx - head, top, cx + head, top + 2 * head), fill=skin)
    body_top = top + 2 * head + 1
    body_w, body_h = int(10 * scale), int(22 * scale)
    draw.rounded_rectangle(
        (cx - body_w, body_top, cx + body_w, body_top + body_h), radius=4, fill=_colour(rng)
    )
    legs = _colour(rng)
    leg_top, leg_h = body_top + body_h, int(rng.integers(8, 16))
    draw.rectangle((cx - body_w + 2, leg_top, cx - 2, leg_top + leg_h), fill=legs)
    draw.rectangle((cx + 2, leg_top, cx + body_w - 2, leg_top + leg_h), fill=legs)
    return img


def _to_tensor(images: list[Image.Image]) -> torch.Tensor:
    """PIL RGB images -> uint8 (N, 3, H, W)."""
    return torch.from_numpy(np.stack([np.asarray(im) for im in images])).permute(0, 3, 1, 2)


@pytest.fixture(scope="module")
def data() -> dict[str, torch.Tensor]:
    """Four disjoint sets of one distribution, blurred copies of one, and uniform noise."""
    rng = np.random.default_rng(1234)
    people = [_person(rng) for _ in range(4 * PER_SET)]
    sets = {
        "a": _to_tensor(people[:PER_SET]),
        "b": _to_tensor(people[PER_SET : 2 * PER_SET]),
        "c": _to_tensor(people[2 * PER_SET : 3 * PER_SET]),
        "d": _to_tensor(people[3 * PER_SET :]),
        "blurred": _to_tensor(
            [im.filter(ImageFilter.GaussianBlur(2.5)) for im in people[PER_SET : 2 * PER_SET]]
        ),
    }
    gen = torch.Generator().manual_seed(5)
    shape = (PER_SET, 3, SIZE, SIZE)
    sets["noise"] = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
    return sets


@pytest.fixture(scope="module")
def scores(data: dict[str, torch.Tensor]) -> dict[str, SWDResult]:
    return {name: sliced_wasserstein(data["a"], data[name]) for name in ("b", "blurred", "noise")}


# --------------------------------------------------------------------------- SWD


def test_resolutions_for_64_and_128() -> None:
    gen = torch.Generator().manual_seed(0)
    small = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8, generator=gen)
    big = torch.randint(0, 256, (4, 3, 128, 128), dtype=torch.uint8, generator=gen)
    kwargs = {"descriptors_per_image": 8, "directions": 8, "repeats": 1}
    assert sliced_wasserstein(small, small, **kwargs).resolutions == [64, 32, 16]
    result = sliced_wasserstein(big, big, **kwargs)
    assert result.resolutions == [128, 64, 32, 16]
    assert len(result.per_level) == 4


def test_same_distribution_low_blurred_between_noise_high(scores: dict[str, SWDResult]) -> None:
    same, blurred, noise = scores["b"], scores["blurred"], scores["noise"]
    assert same.mean < blurred.mean < noise.mean
    for level, (s, bl, n) in enumerate(
        zip(same.per_level, blurred.per_level, noise.per_level, strict=True)
    ):
        assert s < bl < n, f"level {same.resolutions[level]}: {s:.2f}, {bl:.2f}, {n:.2f}"
    # Clear margins, not just an ordering inside the noise of the estimate.
    assert blurred.mean > 1.5 * same.mean
    assert noise.mean > 2 * blurred.mean


def test_result_fields_and_dict(scores: dict[str, SWDResult]) -> None:
    result = scores["b"]
    assert result.mean == pytest.approx(sum(result.per_level) / len(result.per_level))
    assert all(v > 0 for v in result.per_level)
    assert asdict(result) == {
        "resolutions": [64, 32, 16],
        "per_level": result.per_level,
        "mean": result.mean,
    }
    with pytest.raises(AttributeError):
        result.mean = 0.0  # type: ignore[misc]


def test_deterministic_and_symmetric(data: dict[str, torch.Tensor]) -> None:
    kwargs = {"descriptors_per_image": 64, "directions": 64, "repeats": 2}
    a, blurred = data["a"], data["blurred"]
    first = sliced_wasserstein(a, blurred, seed=3, **kwargs)
    assert sliced_wasserstein(a, blurred, seed=3, **kwargs) == first
    other_seed = sliced_wasserstein(a, blurred, seed=4, **kwargs)
    assert other_seed.per_level != first.per_level
    assert other_seed.mean == pytest.approx(first.mean, rel=0.15)
    swapped = sliced_wasserstein(blurred, a, seed=3, **kwargs)
    assert swapped.mean == pytest.approx(first.mean, rel=0.15)


def test_unequal_set_sizes(data: dict[str, torch.Tensor]) -> None:
    kwargs = {"descriptors_per_image": 64, "directions": 64, "repeats": 2}
    a, b, noise = data["a"], data["b"], data["noise"]
    small_same = sliced_wasserstein(a, b[:40], **kwargs)
    small_noise = sliced_wasserstein(a, noise[:40], **kwargs)
    assert small_same.mean < small_noise.mean / 2
    assert sliced_wasserstein(b[:40], a, **kwargs).mean == pytest.approx(small_same.mean, rel=0.3)


def test_flat_images_give_finite_numbers() -> None:
    white = torch.full((8, 3, 64, 64), 255, dtype=torch.uint8)
    result = sliced_wasserstein(white, white, descriptors_per_image=8, directions=8, repeats=1)
    assert all(np.isfinite(result.per_level))
    assert result.mean == 0.0


# --------------------------------------------------------------------------- internals vs ProGAN


def _progan_pyramid(images: np.ndarray, num_levels: int) -> list[np.ndarray]:
    """Straight numpy port of ProGAN's generate_laplacian_pyramid.

    scipy.ndimage's 'mirror' mode, which ProGAN convolves with, is numpy's 'reflect' padding.
    """
    kernel = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float64) / 256.0

    def convolve(x: np.ndarray, k: np.ndarray) -> np.ndarray:
        h, w = x.shape[2:]
        padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")
        out = np.zeros_like(x)
        for dy in range(5):
            for dx in range(5):
                out += k[dy, dx] * padded[:, :, dy : dy + h, dx : dx + w]
        return out

    def pyr_down(x: np.ndarray) -> np.ndarray:
        return convolve(x, kernel)[:, :, ::2, ::2]

    def pyr_up(x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        res = np.zeros((n, c, 2 * h, 2 * w))
        res[:, :, ::2, ::2] = x
        return convolve(res, kernel * 4.0)

    pyramid = [images.astype(np.float64)]
    for _ in range(1, num_levels):
        pyramid.append(pyr_down(pyramid[-1]))
        pyramid[-2] -= pyr_up(pyramid[-1])
    return pyramid


def test_pyramid_matches_progan(data: dict[str, torch.Tensor]) -> None:
    images = torch.cat([data["a"][:3], data["noise"][:2]])
    ours = swd_module._laplacian_pyramid(images.float(), 3)
    reference = _progan_pyramid(images.numpy(), 3)
    assert [tuple(level.shape[-2:]) for level in ours] == [(64, 64), (32, 32), (16, 16)]
    for mine, theirs in zip(ours, reference, strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs, atol=1e-3)


def test_gather_patches_matches_slicing() -> None:
    gen = torch.Generator().manual_seed(1)
    level = torch.randn(2, 3, 16, 16, generator=gen)
    centres = torch.randint(3, 13, (2, 5, 2), generator=gen)
    patches = swd_module._gather_patches(level, centres, 7)  # (10, 147)
    for i in range(2):
        for j in range(5):
            y, x = centres[i, j].tolist()
            expected = level[i, :, y - 3 : y + 4, x - 3 : x + 4].reshape(-1)
            assert torch.equal(patches[i * 5 + j], expected)


def test_finalize_standardises_each_channel() -> None:
    gen = torch.Generator().manual_seed(2)
    desc = torch.randn(500, 3, 7, 7, generator=gen) * torch.tensor([1.0, 5.0, 20.0]).view(
        1, 3, 1, 1
    ) + torch.tensor([0.0, 100.0, -7.0]).view(1, 3, 1, 1)
    out = swd_module._finalize(desc.reshape(500, -1).clone(), 3).view(500, 3, 49)
    torch.testing.assert_close(out.mean(dim=(0, 2)), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2), correction=0), torch.ones(3), atol=1e-4, rtol=0)


def test_swd_of_shifted_set() -> None:
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(2000, 147, generator=gen)
    assert swd_module._swd(a, a.clone(), directions=32, repeats=2, gen=gen) == 0.0
    # A constant shift moves every projection by shift . dir, so SWD = mean |shift . dir|.
    # For a unit shift and unit directions uniform on the 147-sphere, E|dir_0| ~ sqrt(2/(pi*147)).
    shifted = a.clone()
    shifted[:, 0] += 1.0
    dist = swd_module._swd(a, shifted, directions=256, repeats=4, gen=gen)
    assert dist == pytest.approx((2 / (np.pi * 147)) ** 0.5, rel=0.1)


# --------------------------------------------------------------------------- random features


def test_features_fixed_and_size_independent(data: dict[str, torch.Tensor]) -> None:
    images = data["a"][:8]
    first = random_features(images)
    assert first.shape == (8, FEATURE_DIM) and first.dtype == torch.float32
    assert torch.equal(random_features(images), first)  # the same weights every call
    # batching changes only float rounding (the conv kernels differ per batch size)
    torch.testing.assert_close(random_features(images[3:4]), first[3:4])
    assert not torch.allclose(first[0], first[1])  # different pictures, different features
    # A 128 px picture made of 2x2 blocks of a 64 px one is that picture, area-averaged back.
    big = images.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # (8, 3, 128, 128)
    assert torch.equal(downscale_uint8(big, 64), images)
    torch.testing.assert_close(random_features(big), first)


# --------------------------------------------------------------------------- precision, recall


def _reference_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, ...]:
    """clovaai/generative-evaluation-prdc's compute_prdc, restated with plain numpy."""

    def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    def radii(x: np.ndarray) -> np.ndarray:  # k-th smallest with the point itself at 0
        return np.partition(dist(x, x), k, axis=-1)[:, k]

    real_r, fake_r, d = radii(real), radii(fake), dist(real, fake)
    precision = (d < real_r[:, None]).any(axis=0).mean()
    recall = (d < fake_r[None, :]).any(axis=1).mean()
    density = (1.0 / k) * (d < real_r[:, None]).sum(axis=0).mean()
    coverage = (d.min(axis=1) < real_r).mean()
    return precision, recall, density, coverage


def test_prdc_matches_reference_code() -> None:
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(60, 6, generator=gen)
    fake = torch.randn(45, 6, generator=gen) * 1.3 + 0.4
    for k in (1, 3, 5):
        ours = prdc(real, fake, k=k)
        expected = _reference_prdc(real.double().numpy(), fake.double().numpy(), k)
        np.testing.assert_allclose(
            (ours.precision, ours.recall, ours.density, ours.coverage), expected, rtol=1e-12
        )
        assert (ours.k, ours.real, ours.fake) == (k, 60, 45)


def test_prdc_on_toy_points() -> None:
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(600, 16, generator=gen)
    same = prdc(real, torch.randn(600, 16, generator=gen))
    assert same.precision > 0.8 and same.recall > 0.8
    assert same.density == pytest.approx(1.0, abs=0.1)  # E[density] = 1 for one distribution
    assert same.coverage == pytest.approx(1 - 0.5**5, abs=0.03)  # 1 - 1/2^k for equal sets
    shrunk = prdc(real, torch.randn(600, 16, generator=gen) * 0.4)  # fakes in the core only
    assert shrunk.precision > 0.95 and shrunk.recall < 0.1
    wide = prdc(real, torch.randn(600, 16, generator=gen) * 2.0)  # fakes mostly off the data
    assert wide.precision < 0.2 and wide.recall > 0.95 and wide.density < 0.1


def test_prdc_dropped_modes() -> None:
    """Four clusters of reals, fakes from two: fidelity stays, diversity halves."""
    gen = torch.Generator().manual_seed(2)
    centres = torch.eye(8)[:4] * 20.0  # (4, 8), far apart
    real = centres.repeat_interleave(100, 0) + torch.randn(400, 8, generator=gen)
    fake = centres[:2].repeat_interleave(200, 0) + torch.randn(400, 8, generator=gen)
    result = prdc(real, fake)
    assert result.precision > 0.85
    assert result.recall == pytest.approx(0.5, abs=0.08)
    assert result.coverage == pytest.approx(0.5, abs=0.05)


@pytest.fixture(scope="module")
def image_prdc(data: dict[str, torch.Tensor]) -> dict[str, prdc_module.PRDCResult]:
    """The synthetic people in random features: another sample, blurred, one image repeated."""
    real = random_features(data["a"])
    repeated = data["b"][:1].repeat(PER_SET, 1, 1, 1)
    return {name: prdc(real, random_features(images)) for name, images in
            (("same", data["b"]), ("blurred", data["blurred"]), ("repeated", repeated))}


def test_prdc_images_real_scores_as_real(image_prdc: dict[str, prdc_module.PRDCResult]) -> None:
    same = image_prdc["same"]
    assert same.precision > 0.75 and same.recall > 0.65
    assert same.density == pytest.approx(1.0, abs=0.35)
    assert same.coverage > 0.9


def test_prdc_images_blur_loses_precision(image_prdc: dict[str, prdc_module.PRDCResult]) -> None:
    same, blurred = image_prdc["same"], image_prdc["blurred"]
    assert blurred.precision < same.precision - 0.25
    assert blurred.density < same.density / 3


def test_prdc_images_repeat_loses_recall_and_coverage(
    image_prdc: dict[str, prdc_module.PRDCResult],
) -> None:
    same, repeated = image_prdc["same"], image_prdc["repeated"]
    assert repeated.recall < 0.02 < same.recall
    # one fake point can sit in at most a few real balls
    assert repeated.coverage < 0.05 < same.coverage


# --------------------------------------------------------------------------- memorisation


def test_memorisation_features_baseline_copies_and_far() -> None:
    gen = torch.Generator().manual_seed(3)
    train, heldout, fresh = (torch.randn(n, 8, generator=gen) for n in (800, 400, 400))
    new = heldout_memorisation_features(fresh, train, heldout)
    assert new.share == pytest.approx(0.05, abs=0.035)  # the held-out baseline
    assert new.median_ratio == pytest.approx(1.0, abs=0.1)
    itself = heldout_memorisation_features(heldout, train, heldout)
    assert itself.share == pytest.approx(0.05, abs=0.01) and itself.median_ratio == 1.0
    copies = train[:300] + 0.01 * torch.randn(300, 8, generator=gen)
    copied = heldout_memorisation_features(copies, train, heldout)
    assert copied.share == 1.0 and copied.median_ratio < 0.05
    far = heldout_memorisation_features(fresh + 10.0, train, heldout)
    assert far.share == 0.0 and far.median_ratio > 3
    assert (new.samples, new.train, new.heldout, new.quantile) == (400, 800, 400, 0.05)


@pytest.fixture(scope="module")
def split(data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Train on a + b, hold out c; d is another sample the model never saw either."""
    return {"train": torch.cat([data["a"], data["b"]]), "heldout": data["c"]}


def test_memorisation_new_pictures_score_baseline(
    data: dict[str, torch.Tensor], split: dict[str, torch.Tensor]
) -> None:
    result = heldout_memorisation(data["d"], split["train"], split["heldout"])
    assert result.share < 0.15
    assert result.median_ratio == pytest.approx(1.0, abs=0.2)
    assert result.train == 2 * 2 * PER_SET  # mirrored copies included


def test_memorisation_copies_score_memorised(split: dict[str, torch.Tensor]) -> None:
    train = split["train"]
    picks = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:100]
    copies = heldout_memorisation(train[picks], train, split["heldout"])
    assert copies.share == 1.0 and copies.median_ratio < 1e-3
    # a copy the generator mirrored is a copy too; without flips it would pass as new
    mirrored = train[picks].flip(3)
    assert heldout_memorisation(mirrored, train, split["heldout"]).share == 1.0
    assert heldout_memorisation(mirrored, train, split["heldout"], flips=False).share < 0.3
    # degraded copies: slightly blurred (as a generator might) still count
    soft = torch.from_numpy(np.stack([
        np.asarray(Image.fromarray(im.permute(1, 2, 0).numpy()).filter(ImageFilter.GaussianBlur(1)))
        for im in train[picks]
    ])).permute(0, 3, 1, 2)
    blurred = heldout_memorisation(soft, train, split["heldout"])
    assert blurred.share > 0.9 and blurred.median_ratio < 0.5


def test_memorisation_128_px_like_64(
    data: dict[str, torch.Tensor], split: dict[str, torch.Tensor]
) -> None:
    """At 128 px the distance is taken at 32 px too: 2x2-block upscales score the same."""

    def up(x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)

    small = heldout_memorisation(data["d"], split["train"], split["heldout"])
    big = heldout_memorisation(up(data["d"]), up(split["train"]), up(split["heldout"]))
    assert big.share == small.share
    assert big.median_ratio == pytest.approx(small.median_ratio, rel=1e-6)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("real", "fake", "message"),
    [
        (torch.zeros(4, 3, 64, 64), torch.zeros(4, 3, 64, 64, dtype=torch.uint8), "uint8"),
        (
            torch.zeros(3, 64, 64, dtype=torch.uint8),
            torch.zeros(4, 3, 64, 64, dtype=torch.uint8),
            "4-D",
        ),
        (
            torch.zeros(4, 3, 64, 64, dtype=torch.uint8),
            torch.zeros(4, 3, 32, 32, dtype=torch.uint8),
            "image shape",
        ),
        (
            torch.zeros(4, 1, 64, 64, dtype=torch.uint8),
            torch.zeros(4, 1, 64, 64, dtype=torch.uint8),
            "3 channels",
        ),
        (
            torch.zeros(4, 3, 8, 8, dtype=torch.uint8),
            torch.zeros(4, 3, 8, 8, dtype=torch.uint8),
            "min_resolution",
        ),
        (
            torch.zeros(4, 3, 48, 48, dtype=torch.uint8),
            torch.zeros(4, 3, 48, 48, dtype=torch.uint8),
            "power of two",
        ),
        (
            torch.zeros(0, 3, 64, 64, dtype=torch.uint8),
            torch.zeros(4, 3, 64, 64, dtype=torch.uint8),
            "no images",
        ),
    ],
)
def test_swd_bad_input(real: torch.Tensor, fake: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        sliced_wasserstein(real, fake)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patch_size": 6}, "odd"),
        ({"patch_size": 9, "min_resolution": 8}, "min_resolution"),
        ({"directions": 0}, "directions"),
        ({"repeats": 1.5}, "repeats"),
    ],
)
def test_swd_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    images = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)
    with pytest.raises(ValueError, match=message):
        sliced_wasserstein(images, images, **kwargs)  # type: ignore[arg-type]


def test_swd_image_smaller_than_patch() -> None:
    tiny = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="patch_size"):
        sliced_wasserstein(tiny, tiny, patch_size=7, min_resolution=2)


def test_memorisation_bad_input() -> None:
    good = torch.zeros(4, 3, 64, 64, dtype=torch.uint8)
    with pytest.raises(ValueError, match="image shape"):
        heldout_memorisation(good, good, torch.zeros(4, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8"):
        heldout_memorisation(good.float(), good, good)
    with pytest.raises(ValueError, match="4-D"):
        heldout_memorisation(good, good[0], good)
    with pytest.raises(ValueError, match="no images"):
        heldout_memorisation(good, good, good[:0])
    points = torch.zeros(5, 3)
    with pytest.raises(ValueError, match="quantile"):
        heldout_memorisation_features(points, points, points, quantile=1.0)
    with pytest.raises(ValueError, match="feature size"):
        heldout_memorisation_features(points, torch.zeros(5, 4), points)


@pytest.mark.parametrize(
    ("real", "fake", "kwargs", "message"),
    [
        (torch.zeros(10, 4, dtype=torch.long), torch.zeros(10, 4), {}, "floating"),
        (torch.zeros(10), torch.zeros(10, 4), {}, "2-D"),
        (torch.zeros(10, 4), torch.zeros(10, 5), {}, "feature size"),
        (torch.zeros(10, 4), torch.full((10, 4), float("nan")), {}, "NaN"),
        (torch.zeros(5, 4), torch.zeros(10, 4), {}, "more than k=5"),
        (torch.zeros(10, 4), torch.zeros(10, 4), {"k": 0}, "k must be"),
        ([[0.0]], torch.zeros(10, 4), {}, "torch.Tensor"),
    ],
)
def test_prdc_bad_input(real: object, fake: object, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        prdc(real, fake, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_features_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        random_features(torch.zeros(2, 3, 64, 64))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        random_features(torch.zeros(2, 1, 64, 64, dtype=torch.uint8))

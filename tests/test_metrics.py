"""Tests for model.metrics on a synthetic data set of people-like figures drawn with PIL."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter

from model import metrics
from model.metrics import SWDResult, memorisation_share, sliced_wasserstein

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
    """Three disjoint sets of one distribution, blurred copies of one, and uniform noise."""
    rng = np.random.default_rng(1234)
    people = [_person(rng) for _ in range(3 * PER_SET)]
    sets = {
        "a": _to_tensor(people[:PER_SET]),
        "b": _to_tensor(people[PER_SET : 2 * PER_SET]),
        "c": _to_tensor(people[2 * PER_SET :]),
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
    assert result.to_dict() == {
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
    ours = metrics._laplacian_pyramid(images.float(), 3)
    reference = _progan_pyramid(images.numpy(), 3)
    assert [tuple(level.shape[-2:]) for level in ours] == [(64, 64), (32, 32), (16, 16)]
    for mine, theirs in zip(ours, reference, strict=True):
        np.testing.assert_allclose(mine.numpy(), theirs, atol=1e-3)


def test_gather_patches_matches_slicing() -> None:
    gen = torch.Generator().manual_seed(1)
    level = torch.randn(2, 3, 16, 16, generator=gen)
    centres = torch.randint(3, 13, (2, 5, 2), generator=gen)
    patches = metrics._gather_patches(level, centres, 7)  # (10, 147)
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
    out = metrics._finalize(desc.reshape(500, -1).clone(), 3).view(500, 3, 49)
    torch.testing.assert_close(out.mean(dim=(0, 2)), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2), correction=0), torch.ones(3), atol=1e-4, rtol=0)


def test_swd_of_shifted_set() -> None:
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(2000, 147, generator=gen)
    assert metrics._swd(a, a.clone(), directions=32, repeats=2, gen=gen) == 0.0
    # A constant shift moves every projection by shift . dir, so SWD = mean |shift . dir|.
    # For a unit shift and unit directions uniform on the 147-sphere, E|dir_0| ~ sqrt(2/(pi*147)).
    shifted = a.clone()
    shifted[:, 0] += 1.0
    dist = metrics._swd(a, shifted, directions=256, repeats=4, gen=gen)
    assert dist == pytest.approx((2 / (np.pi * 147)) ** 0.5, rel=0.1)


# --------------------------------------------------------------------------- memorisation


def test_memorisation_copies_noise_and_fresh(data: dict[str, torch.Tensor]) -> None:
    train = torch.cat([data["a"], data["b"]])
    copies = train[torch.randperm(train.shape[0], generator=torch.Generator().manual_seed(0))]
    assert memorisation_share(copies[:100], train) == 1.0
    assert memorisation_share(data["noise"], train) == 0.0
    fresh = memorisation_share(data["c"], train)
    assert 0.05 < fresh < 0.8


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
    with pytest.raises(ValueError, match="at least 2"):
        memorisation_share(good, good[:1])
    with pytest.raises(ValueError, match="image shape"):
        memorisation_share(good, torch.zeros(4, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8"):
        memorisation_share(good.float(), good)
    with pytest.raises(ValueError, match="4-D"):
        memorisation_share(good[0], good)

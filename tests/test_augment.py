"""Tests for model.nets.augment (DiffAugment): shapes, range, gradients, and what each op does."""

from __future__ import annotations

import pytest
import torch

from model.nets.augment import AUGMENTS, color, cutout, diff_augment, parse_policy, translation

FULL_POLICY = ("color", "translation", "cutout")
OPS = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
    "policy": lambda x: diff_augment(x, FULL_POLICY),
}


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)


def _images(b=8, c=3, h=32, w=32, dtype=torch.float32, seed=0) -> torch.Tensor:
    """Uniform in [-1, 1], with exact -1 and 1 present so the ends of the range are tested."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(b, c, h, w, generator=g, dtype=dtype) * 2 - 1).clamp(-1, 1)
    x[:, :, 0, 0] = -1.0
    x[:, :, -1, -1] = 1.0
    return x


def _ramp(b: int, h: int, w: int) -> torch.Tensor:
    """Every pixel of an image distinct, all in [-1, 1): shifts can be read back exactly."""
    base = torch.arange(h * w, dtype=torch.float64).view(1, 1, h, w) / (h * w) * 2 - 1
    return base.expand(b, 3, h, w).clone()


# ---------------------------------------------------------------- shape, dtype, range


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("size", [(32, 32), (64, 64), (20, 36)])
def test_ops_keep_shape_dtype_and_range(name, dtype, size):
    x = _images(h=size[0], w=size[1], dtype=dtype)
    before = x.clone()
    y = OPS[name](x)
    assert y.shape == x.shape
    assert y.dtype == dtype
    assert torch.isfinite(y).all()
    assert y.min().item() >= -1.0
    assert y.max().item() <= 1.0
    assert torch.equal(x, before)  # the input is not modified in place


@pytest.mark.parametrize("name", list(OPS))
def test_ops_are_random_per_image(name):
    # the same image repeated across the batch must not come out identical everywhere
    x = _images(b=1).expand(16, -1, -1, -1).contiguous()
    y = OPS[name](x)
    assert not all(torch.equal(y[0], y[i]) for i in range(1, 16))


@pytest.mark.parametrize("name", list(OPS))
def test_ops_are_differentiable(name):
    x = (_images(b=4, h=32, w=32, dtype=torch.float64) * 0.5).requires_grad_(True)
    y = OPS[name](x)
    weights = torch.randn_like(y)
    (y * weights).sum().backward()
    assert x.grad is not None
    assert x.grad.shape == x.shape
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum().item() > 0


def test_policy_gradients_reach_every_image():
    x = (_images(b=6, dtype=torch.float64) * 0.5).requires_grad_(True)
    diff_augment(x, FULL_POLICY).sum().backward()
    per_image = x.grad.abs().flatten(1).sum(1)
    assert (per_image > 0).all()


# ---------------------------------------------------------------- color


def test_color_of_constant_image_only_shifts_brightness():
    # saturation and contrast act on differences from means: a constant image has none,
    # so only the brightness shift (within +-0.5) is left, the same for every pixel.
    x = torch.full((32, 3, 8, 8), -0.2)
    y = color(x)
    per_image = y.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-6)
    shift = per_image[:, 0] - (-0.2)
    assert shift.abs().max().item() <= 0.5 + 1e-6
    assert shift.std().item() > 0.05  # really random


def test_color_clips_to_range():
    x = torch.ones(64, 3, 4, 4)  # any positive brightness shift would leave the range
    y = color(x)
    assert y.max().item() <= 1.0
    assert (y == 1.0).any()


# ---------------------------------------------------------------- translation


def _shift_with_fill(img: torch.Tensor, ty: int, tx: int, fill: float) -> torch.Tensor:
    """out[y, x] = img[y + ty, x + tx], or fill where that lies outside the image."""
    _, h, w = img.shape
    out = torch.full_like(img, fill)
    ys = slice(max(0, -ty), min(h, h - ty))
    xs = slice(max(0, -tx), min(w, w - tx))
    ys_src = slice(max(0, ty), min(h, h + ty))
    xs_src = slice(max(0, tx), min(w, w + tx))
    out[:, ys, xs] = img[:, ys_src, xs_src]
    return out


@pytest.mark.parametrize(("h", "w"), [(64, 64), (32, 48)])
def test_translation_is_a_shift_of_at_most_ratio_filled_with_white(h, w):
    x = _ramp(48, h, w)
    y = translation(x)
    max_y, max_x = round(h * 0.125), round(w * 0.125)
    shifts = []
    for i in range(x.shape[0]):
        found = [
            (ty, tx)
            for ty in range(-max_y, max_y + 1)
            for tx in range(-max_x, max_x + 1)
            if torch.equal(y[i], _shift_with_fill(x[i], ty, tx, 1.0))
        ]
        assert len(found) == 1, f"image {i} is not a shift of at most 12.5% filled with white"
        shifts.append(found[0])
    assert any(s != (0, 0) for s in shifts)
    assert any(ty < 0 for ty, _ in shifts) and any(ty > 0 for ty, _ in shifts)
    assert any(tx < 0 for _, tx in shifts) and any(tx > 0 for _, tx in shifts)


def test_translation_of_dark_image_is_white_only_at_borders():
    h = w = 64
    border = h // 8  # 12.5% of 64
    x = torch.full((64, 3, h, w), -1.0)
    y = translation(x)
    assert set(y.unique().tolist()) <= {-1.0, 1.0}
    white = y == 1.0
    assert white.any(), "no image was shifted"
    interior = white[:, :, border : h - border, border : w - border]
    assert not interior.any(), "white pixels further than 12.5% from the border"
    # the white area of each image is whole rows and columns at the edges
    for i in range(y.shape[0]):
        m = white[i, 0]
        rows = m.all(dim=1)
        cols = m.all(dim=0)
        assert torch.equal(m, rows[:, None] | cols[None, :])
        assert torch.equal(white[i, 0], white[i, 1]) and torch.equal(white[i, 0], white[i, 2])


def test_translation_fill_is_configurable():
    x = torch.zeros(32, 3, 16, 16)
    y = translation(x, ratio=0.25, fill=-0.5)
    assert set(y.unique().tolist()) <= {0.0, -0.5}
    assert (y == -0.5).any()
    assert (y[:, :, 4:12, 4:12] == 0.0).all()


# ---------------------------------------------------------------- cutout


@pytest.mark.parametrize("size", [64, 32, 30])
def test_cutout_blanks_one_square_of_half_the_size(size):
    side = round(size * 0.5)
    x = torch.full((256, 3, size, size), 0.75)  # fill is 0: every blanked pixel changes
    y = cutout(x)
    assert set(y.unique().tolist()) <= {0.0, 0.75}
    changed = y == 0.0
    assert torch.equal(changed[:, 0], changed[:, 1]) and torch.equal(changed[:, 0], changed[:, 2])
    m = changed[:, 0]
    n_inside = 0
    for i in range(m.shape[0]):
        ys, xs = torch.nonzero(m[i], as_tuple=True)
        assert len(ys) > 0, f"image {i} has no cutout"
        y0, y1, x0, x1 = ys.min().item(), ys.max().item(), xs.min().item(), xs.max().item()
        hh, ww = y1 - y0 + 1, x1 - x0 + 1
        assert len(ys) == hh * ww, "the blanked area is not a rectangle"
        assert hh <= side and ww <= side
        inside = y0 > 0 and x0 > 0 and y1 < size - 1 and x1 < size - 1
        if inside:  # not clipped by an edge: the whole square
            assert (hh, ww) == (side, side)
            n_inside += 1
        assert len(ys) <= side * side
    assert n_inside > 0, "no square fell fully inside in 256 draws"
    counts = m.flatten(1).sum(1)
    assert (counts == side * side).any()
    assert (counts < side * side).any()  # and some are clipped by an edge


def test_cutout_keeps_the_rest_unchanged():
    x = _images(b=16, h=64, w=64)
    y = cutout(x)
    kept = (y != 0.0).all(dim=1, keepdim=True).expand_as(x)
    assert torch.equal(y[kept], x[kept])
    assert ((y == 0).all(dim=1).flatten(1).sum(1) >= 32 * 32 // 4).all()


def test_cutout_fill_and_ratio_arguments():
    x = torch.full((64, 3, 40, 40), -1.0)
    y = cutout(x, ratio=0.25, fill=0.5)
    counts = (y == 0.5).all(dim=1).flatten(1).sum(1)
    assert counts.max().item() == 10 * 10
    assert counts.min().item() > 0


# ---------------------------------------------------------------- policies


@pytest.mark.parametrize("policy", ["none", "", " ", ",", "none,none", [], ["none"], ()])
def test_parse_policy_empty(policy):
    assert parse_policy(policy) == ()


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("color", ("color",)),
        ("color,translation,cutout", FULL_POLICY),
        (" cutout , color ", ("cutout", "color")),
        ("none,translation", ("translation",)),
        (["translation", "cutout"], ("translation", "cutout")),
        (("color",), ("color",)),
    ],
)
def test_parse_policy_names(policy, expected):
    assert parse_policy(policy) == expected


def test_parse_policy_accepts_every_advertised_name():
    assert parse_policy(",".join(AUGMENTS)) == tuple(AUGMENTS)


@pytest.mark.parametrize(
    ("policy", "bad"),
    [
        ("colour", ["colour"]),
        ("color,flip,zoom", ["flip", "zoom"]),
        (["translation", "Cutout"], ["Cutout"]),
    ],
)
def test_parse_policy_rejects_unknown_names(policy, bad):
    with pytest.raises(ValueError) as info:
        parse_policy(policy)
    msg = str(info.value)
    for name in bad:
        assert name in msg
    for name in AUGMENTS:  # and says what would have been accepted
        assert name in msg


def test_empty_policy_is_identity():
    x = _images()
    assert diff_augment(x, ()) is x
    assert diff_augment(x, parse_policy("none")) is x


def test_policy_applies_ops_in_order():
    x = _images(b=16)
    for policy in (("translation", "cutout"), ("cutout", "translation"), FULL_POLICY):
        torch.manual_seed(7)
        got = diff_augment(x, policy)
        torch.manual_seed(7)
        expected = x
        for name in policy:
            expected = OPS[name](expected)
        assert torch.equal(got, expected), policy

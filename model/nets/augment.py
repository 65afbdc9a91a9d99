"""Differentiable augmentation for small data sets (DiffAugment, Zhao et al. 2020).

The same random transforms are applied to real and fake images before D sees them, in both the
D and G steps, so D cannot memorise the few real images and G still gets gradients through them.
Images are (B, C, H, W) in [-1, 1]; every op keeps the shape and the range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

AUGMENTS = ("color", "translation", "cutout")


def _rand(x: torch.Tensor) -> torch.Tensor:
    """One uniform number per image, shaped (B, 1, 1, 1) to broadcast."""
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def color(x: torch.Tensor) -> torch.Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5), clipped to range."""
    x = x + (_rand(x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (_rand(x) + 0.5) + mean
    return x.clamp(-1.0, 1.0)


def translation(x: torch.Tensor, ratio: float = 0.125, fill: float = 1.0) -> torch.Tensor:
    """Shift each image by up to ratio of its size; uncovered pixels take `fill`.

    fill is white (1.0) because the data pipeline pads every picture onto white: a shifted
    picture then looks like a picture, and D cannot tell augmented images by their borders.
    """
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    gb, gy, gx = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    # Index into a copy padded by one pixel of fill; out-of-range indices land on the padding.
    gy = (gy + ty + 1).clamp(0, h + 1)
    gx = (gx + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1], value=fill)  # (B, C, H+2, W+2)
    # The gather yields (B, H, W, C) memory; its (B, C, H, W) view is channels_last, which is
    # the layout D's convolutions want, so no copy back to NCHW.
    return padded.permute(0, 2, 3, 1)[gb, gy, gx].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5, fill: float = 0.0) -> torch.Tensor:
    """Blank a random square of ratio x size with `fill` (mid-grey by default)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((ys - oy + ch // 2) >= 0) & ((ys - oy + ch // 2) < ch)
    inside = inside & ((xs - ox + cw // 2) >= 0) & ((xs - ox + cw // 2) < cw)  # (B, H, W)
    keep = (~inside).unsqueeze(1).to(x.dtype)
    return x * keep + fill * (1 - keep)


_OPS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


def parse_policy(policy: str | Sequence[str]) -> tuple[str, ...]:
    """'color,translation,cutout' or a list -> validated tuple; '' or 'none' -> ()."""
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    names = [n.strip() for n in names if n.strip() and n.strip() != "none"]
    unknown = [n for n in names if n not in _OPS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown}; choose from {', '.join(AUGMENTS)}")
    return tuple(names)


def diff_augment(x: torch.Tensor, policy: Sequence[str]) -> torch.Tensor:
    """Apply the named ops in order. An empty policy returns x unchanged."""
    for name in policy:
        x = _OPS[name](x)
    return x

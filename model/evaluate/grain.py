"""Grain: how much of a picture is speckle, stripes or streaks, measured without a reference.

A flat illustration is made of areas of one colour with clean edges. A 3x3 median filter
leaves such a picture nearly as it is (it keeps edges and corners of areas wider than a pixel)
but wipes out what a small generator gets wrong in it: grain in a white coat or hat, one-pixel
stripes and streaks, stray dots. So the mean absolute difference between a picture and its
median-filtered self is near 0 for the training pictures and grows with exactly the faults a
person counts as "broken". It is a guide for curation (`model.sample classes` and `audit` show
it per reply, the worst of a seed's replies first), not a verdict: a smear is smooth and
scores low.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def grain(pictures: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) uint8 pictures -> (N,) float: mean |picture - median3x3(picture)| over
    pixels and channels, in levels of 255 (0 for a picture of flat areas)."""
    x = pictures.float()
    n, c, h, w = x.shape
    padded = F.pad(x.reshape(n * c, 1, h, w), (1, 1, 1, 1), mode="replicate")
    patches = F.unfold(padded, 3)  # (n*c, 9, h*w)
    median = patches.median(dim=1).values.reshape(n, c, h, w)
    return (x - median).abs().mean(dim=(1, 2, 3))

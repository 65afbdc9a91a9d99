"""Layers both families share: the normalisation by name, DCGAN's weight initialisation and
the minibatch standard deviation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from model.nets.config import Norm


def norm2d(kind: Norm, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        # LayerNorm over (C, H, W) of each sample: no coupling between samples of a batch.
        return nn.GroupNorm(1, channels)
    return nn.Identity()


def init_weights(module: nn.Module) -> None:
    """DCGAN init: conv weights N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d | nn.GroupNorm):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class MinibatchStd(nn.Module):
    """(B, C, H, W) -> (B, C + 1, H, W): one more channel holding the mean standard deviation
    of the features over each group of `group` samples (Karras et al. 2018), so D can see a
    batch of fakes that all look alike. A batch not divisible by the group uses smaller groups.
    """

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = math.gcd(b, self.group)
        y = x.float().reshape(g, b // g, c, h, w)  # sample i is in group i % (b // g)
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (b // g,)
        feat = std.repeat(g).to(x.dtype).view(b, 1, 1, 1).expand(b, 1, h, w)
        return torch.cat([x, feat], dim=1)

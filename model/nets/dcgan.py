"""The DCGAN-family generator and discriminator (Radford et al. 2016), sized by ``GANConfig``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from model.nets.config import GANConfig
from model.nets.layers import MinibatchStd, init_weights, norm2d


class Generator(nn.Module):
    """z (B, z_dim) -> image (B, C, S, S) in [-1, 1]."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = config
        n = config.n_stages
        width = config.g_width * 2 ** (n - 1)  # 512 at 64x64 with ngf 64
        bias = config.g_norm == "none"  # a bias before BatchNorm is wasted
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(config.z_dim, width, 4, 1, 0, bias=bias),  # (B, w, 4, 4)
            norm2d(config.g_norm, width),
            nn.ReLU(inplace=True),
        ]
        for _ in range(n - 1):  # each stage doubles the resolution and halves the width
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=bias),
                norm2d(config.g_norm, width // 2),
                nn.ReLU(inplace=True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, config.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.shape[0], -1, 1, 1))


class Discriminator(nn.Module):
    """image (B, C, S, S) -> logits (B,). Strided convs with LeakyReLU(0.2)."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = config
        n = config.n_stages
        width = config.d_width
        bias = config.d_norm != "batch"
        convs: list[nn.Conv2d] = [nn.Conv2d(config.channels, width, 4, 2, 1, bias=bias)]
        norms: list[nn.Module] = [nn.Identity()]  # never normalise the input layer
        for _ in range(n - 1):
            convs.append(nn.Conv2d(width, width * 2, 4, 2, 1, bias=bias))
            norms.append(norm2d(config.d_norm, width * 2))
            width *= 2
        extra = 1 if config.mbstd_group else 0
        final = nn.Conv2d(width + extra, 1, 4, 1, 0, bias=bias)  # (B, 1, 1, 1)
        for conv in [*convs, final]:
            init_weights(conv)
        for norm in norms:
            init_weights(norm)
        if config.spectral_norm:
            convs = [spectral_norm(c) for c in convs]
            final = spectral_norm(final)
        layers: list[nn.Module] = []
        for conv, norm in zip(convs, norms, strict=True):
            layers += [conv, norm, nn.LeakyReLU(0.2, inplace=True)]
        if config.mbstd_group:
            layers.append(MinibatchStd(config.mbstd_group))
        layers.append(final)
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten()

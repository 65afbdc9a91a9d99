"""DCGAN-family generator and discriminator, sized by image size and width.

The architecture travels with the weights: ``GANConfig`` is saved in every checkpoint and model
card, and ``build_generator(config)`` rebuilds exactly the network the weights belong to.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

Norm = Literal["batch", "layer", "none"]
Arch = Literal["dcgan", "fastgan"]
IMAGE_SIZES = (32, 64, 128)
ARCHS = ("dcgan", "fastgan")


@dataclass(frozen=True)
class GANConfig:
    z_dim: int = 40
    image_size: int = 64  # 64 by default; 128 for a GPU user who wants bigger pictures
    channels: int = 3
    g_width: int = 64  # ngf: channels of G's last hidden layer
    d_width: int = 64  # ndf: channels of D's first layer
    g_norm: Norm = "batch"
    d_norm: Norm = "none"  # batch breaks WGAN-GP's per-sample gradient penalty
    spectral_norm: bool = True  # on D's convolutions
    arch: Arch = "dcgan"  # "fastgan": model.fastgan's resize-conv G with SLE, residual D
    mbstd_group: int = 0  # minibatch standard deviation in D over groups of this size; 0 off
    # Class conditioning (model.cond, fastgan only): the label sets G and D are conditioned on,
    # each (name, class names in index order); () is unconditional.
    cond: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        if self.image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {self.image_size}")
        if self.z_dim < 1 or self.g_width < 1 or self.d_width < 1:
            raise ValueError("z_dim, g_width and d_width must be positive")
        for name in ("g_norm", "d_norm"):
            if getattr(self, name) not in ("batch", "layer", "none"):
                raise ValueError(f"{name} must be batch, layer or none")
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if self.mbstd_group < 0:
            raise ValueError("mbstd_group must be 0 (off) or a group size")
        # JSON gives lists: stored as tuples, so that configs compare and hash alike.
        object.__setattr__(self, "cond", _cond_tuple(self.cond))

    @property
    def cond_sizes(self) -> tuple[int, ...]:
        """How many classes each label set of cond has: (4, 6) for subgroup, tone."""
        return tuple(len(classes) for _, classes in self.cond)

    @property
    def n_stages(self) -> int:
        """Upsampling stages between the 4x4 base and the output: 4 for 64x64."""
        return int(math.log2(self.image_size)) - 2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cond"] = [[name, list(classes)] for name, classes in self.cond]  # as JSON reads it
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GANConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown GANConfig keys: {sorted(unknown)}")
        return cls(**data)


def _cond_tuple(cond: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """GANConfig.cond from tuples or JSON lists; ValueError for anything but distinct names,
    each with at least two distinct class names."""
    try:
        out = tuple((str(name), tuple(str(c) for c in classes)) for name, classes in cond)
    except (TypeError, ValueError):
        raise ValueError(f"cond must be a list of [label set, [class, ...]], got {cond!r}"
                         ) from None
    names = [name for name, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"cond names a label set twice: {names}")
    for name, classes in out:
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"cond {name!r} needs two or more distinct classes, got {classes}")
    return out


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

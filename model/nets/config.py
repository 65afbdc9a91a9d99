"""DCGAN-family generator and discriminator, sized by image size and width.

The architecture travels with the weights: ``GANConfig`` is saved in every checkpoint and model
card, and ``build_generator(config)`` rebuilds exactly the network the weights belong to.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

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
    arch: Arch = "dcgan"  # "fastgan": model.nets.fastgan's resize-conv G with SLE, residual D
    mbstd_group: int = 0  # minibatch standard deviation in D over groups of this size; 0 off
    # Class conditioning (model.train.cond, fastgan only): the label sets G and D are conditioned
    # on, each (name, class names in index order); () is unconditional.
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

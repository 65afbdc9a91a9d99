"""The one place that turns a GANConfig into networks, whichever family it names.

Everything that builds a generator or discriminator from a config (training, checkpoints, the
guard, the benchmarks) calls these, so a new family is one new branch here.
"""

from __future__ import annotations

from torch import nn

from model.nets.config import GANConfig
from model.nets.dcgan import Discriminator, Generator
from model.nets.fastgan import FastDiscriminator, FastGenerator, Reconstructors


def build_generator(config: GANConfig) -> nn.Module:
    """z (B, z_dim) -> image (B, C, S, S) in [-1, 1] (fastgan with config.cond: also classes,
    model.train.cond)."""
    _check_cond(config)
    return FastGenerator(config) if config.arch == "fastgan" else Generator(config)


def build_discriminator(config: GANConfig) -> nn.Module:
    """image (B, C, S, S) -> logits (B,)."""
    _check_cond(config)
    return FastDiscriminator(config) if config.arch == "fastgan" else Discriminator(config)


def _check_cond(config: GANConfig) -> None:
    if config.cond and config.arch != "fastgan":
        raise ValueError(f"class conditioning (cond) is built for arch fastgan only, not "
                         f"{config.arch}")


def build_reconstructors(config: GANConfig) -> Reconstructors | None:
    """The self-supervised decoders a FastGAN discriminator trains with; None otherwise."""
    return Reconstructors(config) if config.arch == "fastgan" else None

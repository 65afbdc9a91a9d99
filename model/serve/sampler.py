"""The generator the bot serves: loaded from a weights folder, drawing pictures from latents.

    sampler = Sampler.load("weights")                 # best device, eval mode
    z = near_seed(seed_z, n=1, sigma=0.5, gen=request_rng("mastodon:123"))
    images = sampler.generate(z)                       # (1, 3, 64, 64) uint8

Eval mode (BatchNorm's running statistics, fixed noise), channels-last on CPU, inference mode;
a class-conditional generator draws each latent's own classes unless given some.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model.device import pick_device
from model.nets.weights import load_generator
from model.serve.pictures import to_uint8

log = logging.getLogger("model.serve")


@dataclass
class Sampler:
    """A generator loaded for inference, with its model card."""

    generator: torch.nn.Module
    card: dict[str, Any]
    device: torch.device

    @classmethod
    def load(cls, weights_dir: Path | str, device: str = "auto") -> Sampler:
        dev = pick_device(device)
        generator, card = load_generator(weights_dir, dev)
        # NHWC: oneDNN and cuDNN run its convolutions without layout reorders (README).
        return cls(generator.to(memory_format=torch.channels_last), card, dev)

    @property
    def z_dim(self) -> int:
        return self.generator.config.z_dim

    @property
    def cond(self) -> dict[str, tuple[str, ...]]:
        """A class-conditional generator's label sets (model.train.cond), each with its class names
        in index order, as generate's classes index them; {} for an unconditional one."""
        return dict(getattr(self.generator.config, "cond", ()))

    @torch.inference_mode()
    def generate(self, z: torch.Tensor, batch: int = 256,
                 classes: torch.Tensor | None = None, bf16: bool = False) -> torch.Tensor:
        """(B, z_dim) latents -> (B, C, S, S) uint8 images on CPU, in eval mode.

        classes: (B, k) int64, one index per label set of `cond`, for a class-conditional
        generator; without them it draws each latent's classes from the latent itself
        (model.nets.fastgan.latent_classes), so a latent always draws the same picture.
        bf16: under bf16 autocast (the guard's candidates, where bf16 is native): about twice
        as fast, and 0.3 levels of 255 off fp32 on average (p99 2)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"latents must be (B, {self.z_dim}), got {tuple(z.shape)}")
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            if classes is None:
                out = [to_uint8(self.generator(chunk.to(self.device)).float())
                       for chunk in z.float().split(batch)]
                return torch.cat(out)
            classes = self._checked(classes, z.shape[0])
            out = [to_uint8(self.generator(zs.to(self.device), cs.to(self.device)).float())
                   for zs, cs in zip(z.float().split(batch), classes.split(batch),
                                     strict=True)]
            return torch.cat(out)

    @torch.inference_mode()
    def class_shift(self, classes: torch.Tensor) -> torch.Tensor:
        """(B, k) class indices -> (B, z_dim) float32 on CPU: what a conditional generator adds
        to z for them (generate(z, classes) draws what z + shift draws in any classes, less
        their own shift): a morph blends two pictures' classes with it."""
        classes = self._checked(classes, classes.shape[0])
        return self.generator.class_shift(classes.to(self.device)).float().cpu()

    def _checked(self, classes: torch.Tensor, n: int) -> torch.Tensor:
        """classes as (n, k) int64, or ValueError saying what is wrong with them."""
        sizes = [len(c) for c in self.cond.values()]
        if not sizes:
            raise ValueError("this generator is unconditional; it takes no classes")
        classes = torch.as_tensor(classes).to(torch.int64).cpu()
        if classes.shape != (n, len(sizes)):
            raise ValueError(f"classes must be ({n}, {len(sizes)}): one index per label set "
                             f"({', '.join(self.cond)}) for each latent, got "
                             f"{tuple(classes.shape)}")
        if (classes < 0).any() or (classes >= torch.tensor(sizes)).any():
            raise ValueError(f"class indices must be below {sizes} "
                             f"({', '.join(self.cond)}), got {classes.max(0).values.tolist()}")
        return classes

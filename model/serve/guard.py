"""The serving guard: a discriminator fitted by ``python -m model.guard`` ranks a reply's
candidates; the best is sent. It ranks, never thresholds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from model.device import cpu_has_native_bf16, pick_device
from model.nets.weights import (
    DISCRIMINATOR_FILE,
    guard_unfit_reason,
    load_discriminator,
    read_card,
)

log = logging.getLogger("model.serve")


@dataclass
class Guard:
    """Discriminator rejection sampling as ranking (Azadi et al., ICLR 2019): of k candidates
    near one seed, send the one D finds most real. Rank, never threshold: a request always
    gets a picture, and a weak D can only reorder, not refuse."""

    discriminator: torch.nn.Module
    device: torch.device
    # bf16 where it is native (CUDA, AVX512-BF16, AMX): for D and for G's k candidates
    # (serve's _best); a ranking needs no more precision, and the picture sent differs from
    # its fp32 drawing by a fraction of a level. Elsewhere both stay fp32.
    bf16: bool = False

    @torch.inference_mode()
    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, S, S), as sent -> (B,) D logits (higher: more like the data)."""
        x = images.to(self.device).float().div(127.5).sub(1.0)
        x = x.contiguous(memory_format=torch.channels_last)
        if not self.bf16:
            return self.discriminator(x).float().cpu()
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            return self.discriminator(x).float().cpu()


def load_guard(weights_dir: Path | str, device: str | torch.device = "auto") -> Guard | None:
    """The weights folder's discriminator as a guard, or None when it ships none or ships one
    not fitted for serving (a training run's: logged as a warning, served without a guard)."""
    dev = pick_device(device) if isinstance(device, str) else device
    if not (Path(weights_dir) / DISCRIMINATOR_FILE).is_file():
        return None
    reason = guard_unfit_reason(read_card(weights_dir), weights_dir)
    if reason is not None:
        log.warning("%s; until then each picture is the first of its candidates", reason)
        return None
    d = load_discriminator(weights_dir, dev)
    if d is None:  # removed since the look above
        return None
    bf16 = dev.type == "cuda" or cpu_has_native_bf16()
    return Guard(d.to(memory_format=torch.channels_last), dev, bf16)

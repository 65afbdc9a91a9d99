"""An exponential moving average of the generator's weights, and BatchNorm re-estimation.

The EMA copy follows G with beta 0.999, warmed up as min(beta, (1 + step) / (10 + step)) so that
the early average is not dominated by the random init. Its BatchNorm running statistics are
copied from G each step ("kept in step"), but statistics collected under G's weights do not fit
averaged weights, so before scoring or export they are re-estimated for the EMA's own weights.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(generator: nn.Module) -> nn.Module:
    ema = copy.deepcopy(generator).eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: nn.Module, generator: nn.Module, beta: float, step: int) -> None:
    beta = min(beta, (1 + step) / (10 + step))
    for e, g in zip(ema.parameters(), generator.parameters(), strict=True):
        e.lerp_(g.detach(), 1 - beta)
    for e, g in zip(ema.buffers(), generator.buffers(), strict=True):
        e.copy_(g)


@torch.no_grad()
def reestimate_batchnorm(generator: nn.Module, z_dim: int, device: torch.device,
                         batches: int = 32, batch_size: int = 64, seed: int = 0,
                         labels: torch.Tensor | None = None) -> None:
    """Recompute BatchNorm running statistics as the plain average over fresh batches.

    labels: (N, k) class indices of the data, for a class-conditional generator: each batch
    draws its classes from them (as training does), so that the statistics are those of the
    data's class balance."""
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    gen = torch.Generator().manual_seed(seed)
    was_training = generator.training
    generator.train()
    for _ in range(batches):
        z = torch.randn(batch_size, z_dim, generator=gen).to(device)
        if labels is None:
            generator(z)
        else:
            idx = torch.randint(labels.shape[0], (batch_size,), generator=gen)
            generator(z, labels[idx.to(labels.device)].to(device))
    generator.train(was_training)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum

"""Latents: a request's own random stream, the prior, noise near a seed, slerp.

Sampling near a hand-picked "good" seed keeps replies fresh (new noise each time) but close to a
picture somebody liked. z + sigma * e raises the latent's norm (E|z'|^2 = (1 + sigma^2) d);
``preserve_norm`` uses sqrt(1 - sigma^2) z + sigma e instead, which stays on the N(0, I) prior.
"""

from __future__ import annotations

import hashlib
import math

import torch


def request_rng(request_id: str | int) -> torch.Generator:
    """A CPU generator seeded from a request id: the same id always draws the same latent."""
    digest = hashlib.sha256(str(request_id).encode("utf-8")).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


def plain_latents(n: int, z_dim: int, gen: torch.Generator | None = None) -> torch.Tensor:
    """(n, z_dim) draws from the N(0, I) prior."""
    return torch.randn(n, z_dim, generator=gen)


def near_seed(z: torch.Tensor, n: int = 1, sigma: float = 0.5,
              gen: torch.Generator | None = None, preserve_norm: bool = False) -> torch.Tensor:
    """(z_dim,) seed -> (n, z_dim) latents z + N(0, sigma^2), or the norm-preserving mix."""
    if sigma < 0 or (preserve_norm and sigma > 1):
        raise ValueError(f"sigma must be in [0, {1 if preserve_norm else 'inf'}), got {sigma}")
    z = z.reshape(1, -1).float().cpu()
    noise = torch.randn(n, z.shape[1], generator=gen)
    if preserve_norm:
        return math.sqrt(1 - sigma**2) * z + sigma * noise
    return z + sigma * noise


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation between (D,) latents a and b at t (steps,) -> (steps, D).

    Gaussian latents live near a sphere of radius sqrt(D); a straight line between two of them
    passes through the low-density middle, where pictures go grey. slerp follows the sphere.
    """
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, 1)
    a, b = a.reshape(1, -1).float(), b.reshape(1, -1).float()
    cos = (a / a.norm()).mul(b / b.norm()).sum().clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if torch.sin(omega).abs() < 1e-4:  # parallel or opposite: no unique great circle
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)

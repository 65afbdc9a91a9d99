"""Precision / recall / density / coverage (Naeem et al. 2020), pure tensor code on features.

``prdc`` is Naeem et al. (ICML 2020), "Reliable Fidelity and Diversity Metrics for Generative
Models", as in their reference code (clovaai/generative-evaluation-prdc). It takes features
(N, D), so it can be checked on toy points too; for images it runs on
``model.evaluate.features.random_features``. Each real point gets a ball reaching its k-th
nearest other real point; the union of balls is the real manifold. Precision: share of fakes
inside it (fidelity). Recall: share of reals inside the fakes' manifold (diversity). Density:
how many real balls hold each fake, / k, averaged (fidelity that counts crowding; ~1 when fakes
are distributed like the reals, can exceed 1). Coverage: share of reals whose own ball holds at
least one fake (diversity that ignores fake outliers; about 1 - 1/2^k for two equal samples of
one distribution).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from model.evaluate.swd import positive_ints

# Rows per chunk of the nearest-neighbour distance matrix: 256 x N floats.
DISTANCE_CHUNK = 256


@dataclass(frozen=True)
class PRDCResult:
    """Naeem et al.'s four numbers, k, and the set sizes they came from."""

    precision: float
    recall: float
    density: float
    coverage: float
    k: int
    real: int
    fake: int


def check_features(x: torch.Tensor, name: str) -> None:
    """One-line ValueError unless x is a non-empty, finite, floating (N, D) tensor."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be floating-point features, got dtype {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D (N, D) features, got shape {tuple(x.shape)}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} holds no features: shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} holds NaN or infinite values")


def check_same_dim(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{names} differ in feature size: {a.shape[1]} vs {b.shape[1]}")


def _pairwise_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances, float64; (A, D), (B, D) -> (A, B).

    |a|^2 + |b|^2 - 2 a.b in float64: one matmul, and rounding far below any distance that
    matters (exact duplicates come out ~1e-7 rather than 0 for 4096-d features).
    """
    a, b = a.double(), b.double()
    d2 = a.square().sum(1, keepdim=True) + b.square().sum(1) - 2.0 * (a @ b.T)  # (A, B)
    return d2.clamp_min_(0.0).sqrt_()


def _kth_neighbour_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest *other* row; (N, D) -> (N,) float64."""
    d = _pairwise_distances(x, x)  # (N, N)
    d.fill_diagonal_(float("inf"))
    return d.kthvalue(k, dim=1).values


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> PRDCResult:
    """Precision, recall, density and coverage of fake features against real ones.

    real: (N, D), fake: (M, D), floating, N and M > k (a ball needs k other points). The balls
    are open, as in the reference code (distance < radius). Memory: three float64 distance
    matrices, N^2 + M^2 + N*M numbers (24 MB for 1000 vs 1000).
    """
    check_features(real, "real")
    check_features(fake, "fake")
    check_same_dim(real, fake, "real and fake")
    positive_ints(k=k)
    for name, x in (("real", real), ("fake", fake)):
        if x.shape[0] <= k:
            raise ValueError(f"{name} needs more than k={k} points for k-NN balls, "
                             f"got {x.shape[0]}")
    with torch.inference_mode():
        real, fake = real.cpu(), fake.cpu()
        real_radii = _kth_neighbour_radii(real, k)  # (N,)
        fake_radii = _kth_neighbour_radii(fake, k)  # (M,)
        d = _pairwise_distances(real, fake)  # (N, M)
        inside_real = d < real_radii.unsqueeze(1)  # (N, M): fake j in real i's ball
        precision = inside_real.any(dim=0).double().mean().item()
        recall = (d < fake_radii.unsqueeze(0)).any(dim=1).double().mean().item()
        density = (inside_real.sum(dim=0).double().mean() / k).item()
        coverage = (d.min(dim=1).values < real_radii).double().mean().item()
    return PRDCResult(precision, recall, density, coverage, k, real.shape[0], fake.shape[0])

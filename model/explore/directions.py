"""A generator's main directions of change in latent space, in closed form (SeFa).

Shen and Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021
(arXiv:2007.06600). The first layer that acts on z is an affine map y = A^T z + b. Moving z by
t * n (n a unit vector) moves y by t * A^T n, so the directions along which y, and through it the
picture, changes most are those that maximise ||A^T n||^2 = n^T A A^T n over unit n: the
eigenvectors of A A^T (z_dim x z_dim), strongest (largest eigenvalue) first. They are the left
singular vectors of A, and the eigenvalues its squared singular values. Nothing is trained and no
picture is drawn; the later layers are not looked at (the paper's approximation).

A, one row per latent dimension, for the layer types a generator may start with:

    ConvTranspose2d (DCGAN: z as a z_dim x 1 x 1 image), weight (z_dim, C, k, k) -> (z_dim, C*k*k)
    Conv2d, weight (C, z_dim, k, k)                    -> (z_dim, C*k*k)
    Linear, weight (out, z_dim)                        -> its transpose, (z_dim, out)
"""

from __future__ import annotations

import torch
from torch import nn


def first_layer_weight(generator: nn.Module) -> torch.Tensor:
    """The first layer's weight as A, shape (z_dim, outputs): row i is what z_i feeds."""
    for module in generator.modules():
        if isinstance(module, nn.ConvTranspose2d):
            w = module.weight.detach()  # (in = z_dim, out, k, k)
            return w.reshape(w.shape[0], -1)
        if isinstance(module, nn.Conv2d):
            w = module.weight.detach()  # (out, in = z_dim, k, k)
            return w.transpose(0, 1).reshape(w.shape[1], -1)
        if isinstance(module, nn.Linear):
            return module.weight.detach().T  # (out, in = z_dim) -> (z_dim, out)
    raise ValueError(f"{type(generator).__name__} has no Linear, Conv2d or ConvTranspose2d "
                     "layer to factorise")


def factorize(generator: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """All directions, (z_dim, z_dim) with one unit-length direction per row, strongest first,
    and their eigenvalues of A A^T, (z_dim,) descending.

    The sign of an eigenvector is arbitrary; each is turned so that its largest component (by
    absolute value) is positive, so that the same weights always give the same directions.
    """
    a = first_layer_weight(generator).to("cpu", torch.float64)
    z_dim = getattr(getattr(generator, "config", None), "z_dim", a.shape[0])
    if a.shape[0] != z_dim:
        raise ValueError(f"the first layer takes {a.shape[0]} inputs, not z_dim {z_dim}")
    eigenvalues, vectors = torch.linalg.eigh(a @ a.T)  # ascending, columns orthonormal
    order = eigenvalues.argsort(descending=True)
    eigenvalues, vectors = eigenvalues[order].clamp(min=0.0), vectors[:, order].T
    vectors = vectors / vectors.norm(dim=1, keepdim=True)
    peak = vectors.gather(1, vectors.abs().argmax(dim=1, keepdim=True))
    vectors = vectors * peak.sign().where(peak != 0, torch.ones_like(peak))
    return vectors.float(), eigenvalues.float()


def directions(generator: nn.Module, k: int) -> list[list[float]]:
    """The k strongest directions (at most z_dim), each a unit-length list of z_dim floats."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return factorize(generator)[0][:k].tolist()

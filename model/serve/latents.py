"""Latents: where a picture is drawn from (``Latent``: z and its classes, one value), a
request's own random stream, the prior, noise near a seed, slerp.

Sampling near a hand-picked "good" seed keeps replies fresh (new noise each time) but close to a
picture somebody liked. z + sigma * e raises the latent's norm (E|z'|^2 = (1 + sigma^2) d);
``preserve_norm`` uses sqrt(1 - sigma^2) z + sigma e instead, which stays on the N(0, I) prior.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType

import torch

from model.data.kinds import Label
from model.nets.fastgan import latent_classes

Cond = Mapping[str, tuple[str, ...]]  # a conditional generator's label sets (Sampler.cond)


@dataclass(frozen=True)
class Latent:
    """Where a picture is drawn from: its latent z and the classes a class-conditional
    generator draws it in (label set -> class name: {"kind": "cook", "tone": "medium-dark"}).

    One value, so that no draw can take the latent and forget its classes: a conditional
    generator given no classes draws classes hashed from the latent (latent_classes), another
    kind for every nudge of it. Names, not indices: they mean the same to a retrained
    generator. A label set not named here (or named with a class the generator does not have)
    is drawn in the latent's own class; an unconditional generator ignores the classes."""

    z: tuple[float, ...]
    classes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "z", tuple(float(v) for v in self.z))
        object.__setattr__(self, "classes", MappingProxyType(
            {str(k): str(v) for k, v in dict(self.classes).items()}))

    @classmethod
    def of(cls, z: torch.Tensor | Iterable[float], label: Label | None = None) -> Latent:
        """z (a tensor or numbers) in the classes a label names (None: the latent's own)."""
        values = z.reshape(-1).tolist() if isinstance(z, torch.Tensor) else z
        return cls(tuple(values), label_names(label))

    def tensor(self) -> torch.Tensor:
        """(z_dim,) float32."""
        return torch.tensor(self.z, dtype=torch.float32)

    def at(self, z: torch.Tensor | Iterable[float]) -> Latent:
        """Another latent in these classes (a picture drawn near this one keeps them)."""
        values = z.reshape(-1).tolist() if isinstance(z, torch.Tensor) else z
        return Latent(tuple(values), self.classes)

    def indices(self, cond: Cond) -> torch.Tensor | None:
        """(1, k) int64: the class of each of the generator's label sets, in its order (the
        named one, else the latent's own); None for an unconditional generator."""
        if not cond:
            return None
        row = [names.index(self.classes[name]) if self.classes.get(name) in names else None
               for name, names in cond.items()]
        if None in row:  # hashed from the latent's bytes: only when needed
            own = latent_classes(self.tensor().reshape(1, -1),
                                 tuple(len(c) for c in cond.values()))[0]
            row = [int(own[i]) if c is None else c for i, c in enumerate(row)]
        return torch.tensor([row], dtype=torch.int64)

    def drawn(self, cond: Cond) -> Latent:
        """This latent with every label set of the generator named as it draws them: what a
        picture was drawn in, to keep with it (unconditional: no classes)."""
        row = self.indices(cond)
        if row is None:
            return Latent(self.z)
        return Latent(self.z, {name: names[int(i)] for (name, names), i in
                               zip(cond.items(), row[0], strict=True)})


def label_names(label: Label | None) -> dict[str, str]:
    """The classes a seed's label names, by label set (every field but source: kind,
    subgroup, tone, style); {} without a label. "" is a class only where a set has it (the
    yellow tone); a kind "" names none, so the latent's own is drawn."""
    if label is None:
        return {}
    return {f.name: getattr(label, f.name) for f in fields(label) if f.name != "source"}


def random_classes(cond: Cond, rng: torch.Generator) -> dict[str, str]:
    """A class per label set, uniformly from rng (a picture from the plain prior, no seed)."""
    return {name: names[int(torch.randint(len(names), (1,), generator=rng))]
            for name, names in cond.items()}


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

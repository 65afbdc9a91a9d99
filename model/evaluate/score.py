"""Scoring a generator against a data set: the reference (real images, their features, the
held-out split), plain samples (z ~ N(0, I)) and the served pictures (near the good seeds, the
guard's best of k), each scored by SWD, precision / recall / density / coverage and the held-out
memorisation test. The command and what the numbers mean: model/evaluate/__main__.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from model.data.split import heldout_mask
from model.errors import UserError
from model.evaluate.features import random_features
from model.evaluate.memorisation import heldout_memorisation
from model.evaluate.prdc import prdc
from model.evaluate.swd import sliced_wasserstein
from model.serve.sampler import Sampler

K = 5  # neighbours of the k-NN metrics (Naeem et al.'s default)

HELDOUT_FRACTION = 0.2  # of the groups (base emoji)

SPLIT_SEED = 0  # the split is fixed, whatever --seed: scores of different runs compare


@dataclass
class Reference:
    """The real side of a comparison at one size, shared by plain and served samples."""

    images: torch.Tensor  # (N, 3, S, S) uint8: all the data
    subset: torch.Tensor  # (n',) indices of the real images SWD and the k-NN metrics use
    heldout: torch.Tensor  # (N,) bool: the held-out part of the memorisation test
    _features: torch.Tensor | None = None

    @property
    def sample(self) -> torch.Tensor:
        return self.images[self.subset]  # (n', 3, S, S)

    def features(self) -> torch.Tensor:
        """random_features of the subset, (n', 4096), computed once."""
        if self._features is None:
            self._features = random_features(self.sample)
        return self._features


def draw_latents(n: int, z_dim: int, n_real: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The plain latents (n, z_dim) and the real subset (min(n, n_real),) of one seed.

    One generator for both, in this order, as before held-out scoring existed: the same seed
    gives the same SWD as earlier versions.
    """
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, z_dim, generator=gen)
    subset = (torch.randperm(n_real, generator=gen)[:n] if n_real > n else torch.arange(n_real))
    return z, subset


def reference(real: torch.Tensor, n: int, z_dim: int, seed: int = 0,
              groups: list[str] | None = None) -> Reference:
    """real: uint8 (N, 3, S, S), N >= 2; groups: one name per image (model.data.split.image_groups),
    None to hold out single images (right only when no two images are near copies)."""
    if real.shape[0] < 2:
        raise ValueError(f"scoring needs at least 2 real images (train and held out), "
                         f"got {real.shape[0]}")
    if groups is None:
        groups = [str(i) for i in range(real.shape[0])]
    if len(groups) != real.shape[0]:
        raise ValueError(f"{len(groups)} groups for {real.shape[0]} images")
    _, subset = draw_latents(n, z_dim, real.shape[0], seed)
    return Reference(real, subset, heldout_mask(groups, HELDOUT_FRACTION, SPLIT_SEED))


def score_samples(fakes: torch.Tensor, ref: Reference, seed: int = 0, k: int = K
                  ) -> dict[str, Any]:
    """Every score of generated uint8 (M, 3, S, S) images against one Reference.

    Keys: swd (resolutions, per_level, mean), precision, recall, density, coverage (None when
    either set has k or fewer images), k, memorisation (model.evaluate.memorisation's
    HeldOutResult as a dict),
    memorisation_share (its share, the number earlier versions reported under this name),
    samples, real.
    """
    real = ref.sample
    swd = sliced_wasserstein(real, fakes, seed=seed)
    if min(real.shape[0], fakes.shape[0]) > k:
        pr = asdict(prdc(ref.features(), random_features(fakes), k=k))
    else:
        pr = dict.fromkeys(("precision", "recall", "density", "coverage"))
    memo = heldout_memorisation(fakes, ref.images[~ref.heldout], ref.images[ref.heldout])
    return {"swd": asdict(swd), "precision": pr["precision"], "recall": pr["recall"],
            "density": pr["density"], "coverage": pr["coverage"], "k": k,
            "memorisation": asdict(memo), "memorisation_share": memo.share,
            "samples": fakes.shape[0], "real": real.shape[0]}


def evaluate(sampler: Sampler, real: torch.Tensor, n: int, seed: int = 0, *,
             groups: list[str] | None = None, k: int = K,
             classes: torch.Tensor | None = None) -> dict[str, Any]:
    """n plain (N(0, I)) samples vs the data real, uint8 (N, 3, S, S): see score_samples.

    SWD and the k-NN metrics use up to n real images; memorisation uses all of them, split by
    groups (model.data.split.image_groups; None: single images). classes: (n, k) for a
    class-conditional generator (Sampler.generate), e.g. the data's own labels.
    """
    z, _ = draw_latents(n, sampler.z_dim, real.shape[0], seed)
    ref = reference(real, n, sampler.z_dim, seed, groups)
    return score_samples(sampler.generate(z, classes=classes), ref, seed, k)


def served_samples(sampler: Sampler, weights: Path, n: int, seed: int, seeds_path: Path,
                   sigma: float | None, best_of: int | None, preserve_norm: bool
                   ) -> tuple[torch.Tensor, dict[str, Any]]:
    """n pictures as the bot sends them, and how they were drawn."""
    from model.serve.guard import load_guard
    from model.serve.reply import ServeOptions, served_images
    from model.serve.seeds import load_seeds

    book = load_seeds(seeds_path, sampler.z_dim)
    given = {"sigma": sigma, "best_of": best_of, "preserve_norm": preserve_norm or None}
    try:
        options = ServeOptions(**{key: v for key, v in given.items() if v is not None})
    except (TypeError, ValueError) as exc:
        raise UserError(f"bad serving options: {exc}") from None
    guard = load_guard(weights, sampler.device) if options.best_of > 1 else None
    try:
        images = served_images(sampler, book, n, options, guard=guard, seed=seed)
    except ValueError as exc:
        raise UserError(f"cannot draw served pictures: {exc}") from None
    info = {"seeds_file": str(seeds_path), "seeds": len(book.seeds), "sigma": options.sigma,
            "best_of": options.best_of, "preserve_norm": options.preserve_norm,
            "guard": guard is not None}
    return images, info


def _sizes(requested: list[int] | None, native: int) -> list[int]:
    sizes = requested or ([native, 64] if native > 64 else [native])
    for s in sizes:
        if s > native or s < 16 or s & (s - 1):
            raise UserError(f"--size {s}: sizes must be powers of two from 16 up to the "
                            f"generator's {native} px")
    return list(dict.fromkeys(sizes))


def split_summary(ref: Reference, groups: list[str] | None) -> dict[str, Any]:
    """How the memorisation test split the data, for the header and the JSON."""
    held = ref.heldout.tolist()
    names = groups if groups is not None else [str(i) for i in range(len(held))]
    return {"images": len(held), "train": len(held) - sum(held), "heldout": sum(held),
            "by": "group" if groups is not None else "file", "groups": len(set(names)),
            "heldout_groups": len({g for g, h in zip(names, held, strict=True) if h})}

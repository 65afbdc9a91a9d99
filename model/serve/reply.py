"""A reply, drawn as the bot draws it: a seed picked for the request (by kind and tone), noise
near it, the guard's best of k; "more like this" near a latent; morph frames; and the served
pictures the evaluation scores.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from model.data.kinds import Label
from model.nets.fastgan import latent_classes
from model.serve.guard import Guard
from model.serve.latents import near_seed, plain_latents, request_rng, slerp
from model.serve.sampler import Sampler
from model.serve.seeds import SeedBook, pick_seed


@dataclass(frozen=True)
class ServeOptions:
    sigma: float = 0.5  # noise around the chosen good seed
    preserve_norm: bool = False  # sqrt(1 - sigma^2) z + sigma e instead of z + sigma e
    best_of: int = 8  # candidates per picture, ranked by the discriminator (1: no guard)


@dataclass(frozen=True)
class Served:
    image: torch.Tensor  # (C, S, S) uint8: the picture sent
    z: torch.Tensor  # (z_dim,) its latent
    seed_id: int | None  # the good seed it is near (None: the plain prior)
    score: float | None  # the guard's logit for it (None: no guard)
    label: Label | None = None  # what that seed draws, when it is labelled


def serve(sampler: Sampler, seeds: SeedBook, request_id: str, options: ServeOptions,
          guard: Guard | None = None, seed_id: int | None = None, kind: str | None = None,
          tone: str | None = None) -> Served:
    """One picture as the bot sends it, deterministic given the request id: pick a good seed
    (or use seed_id), draw best_of latents near it, send the one the guard ranks highest.
    kind and tone (a kinds.json name, one of TONES) narrow the pick as pick_seed says; they
    are ignored with seed_id. The picture carries its seed's label: whoever asked can tell
    from it what was drawn. A class-conditional generator draws it in the classes
    label_classes gives: the seed's label, else the seed's own; with no seed, from rng."""
    rng = request_rng(request_id)
    if seed_id is not None:
        seed = seeds.get(seed_id)
        if seed is None:
            known = ", ".join(str(s.id) for s in seeds.seeds) or "none"
            raise ValueError(f"no seed #{seed_id} (known: {known})")
    else:
        seed, _ = pick_seed(seeds, rng, kind, tone)
    if seed is None:
        classes = label_classes(sampler, None, rng)  # a conditional G: drawn from rng
        k = options.best_of if guard is not None else 1
        z = plain_latents(k, sampler.z_dim, rng)  # (k, z_dim)
        return _best(sampler, z, 1, guard, None, classes)[0]
    # A conditional generator draws the seed's subgroup and tone (None: unconditional).
    classes = label_classes(sampler, seed.label, rng, seed.tensor())
    served = _best(sampler, _candidates(seed.tensor(), 1, options, guard, rng), 1, guard,
                   seed.id, classes)[0]
    return replace(served, label=seed.label)


def label_classes(sampler: Sampler, label: Label | None, rng: torch.Generator,
                  z: torch.Tensor | None = None) -> torch.Tensor | None:
    """(1, k) classes for a class-conditional generator: each label set's class from the
    label (a good seed's subgroup and tone) where it names one of that set's classes; else
    the class latent z draws by itself (model.nets.fastgan.latent_classes: the picture the explorer
    showed, which somebody liked); else, without a latent, one drawn uniformly from rng.
    None for an unconditional generator, without touching rng: its replies stay the same."""
    if not sampler.cond:
        return None
    sizes = tuple(len(c) for c in sampler.cond.values())
    own = None if z is None else latent_classes(z.reshape(1, -1).float().cpu(), sizes)[0]
    row = []
    for i, (name, classes) in enumerate(sampler.cond.items()):
        value = getattr(label, name, None) if label is not None else None
        if value is not None and value in classes:
            row.append(classes.index(value))
        elif own is not None:
            row.append(int(own[i]))
        else:
            row.append(int(torch.randint(len(classes), (1,), generator=rng)))
    return torch.tensor([row], dtype=torch.int64)


def serve_near(sampler: Sampler, z: torch.Tensor, request_id: str, n: int,
               options: ServeOptions, guard: Guard | None = None,
               seed_id: int | None = None, label: Label | None = None) -> list[Served]:
    """n pictures near one latent (z_dim,), each the guard's best of its own best_of
    candidates, all drawn in one batch: "more like this" of a picture somebody liked.
    Deterministic given the request id; seed_id is only carried along (the good seed z
    itself came from). A conditional generator draws all n in the classes of label (what
    the liked picture was drawn as), else in those z draws by itself (label_classes)."""
    rng = request_rng(request_id)
    classes = label_classes(sampler, label, rng, z)
    return _best(sampler, _candidates(z, n, options, guard, rng), n, guard, seed_id, classes)


def _candidates(center: torch.Tensor, n: int, options: ServeOptions, guard: Guard | None,
                rng: torch.Generator) -> torch.Tensor:
    """(n * k, z_dim) latents near center: k candidates for each of n pictures."""
    k = options.best_of if guard is not None else 1
    return near_seed(center, n * k, options.sigma, rng, options.preserve_norm)


def _best(sampler: Sampler, z: torch.Tensor, n: int, guard: Guard | None,
          seed_id: int | None, classes: torch.Tensor | None = None) -> list[Served]:
    """Of (n * k, z_dim) candidates, rows i*k..(i+1)*k-1 competing for picture i, the n the
    guard ranks highest (the first of each group without a guard). classes: (1, k) for a
    conditional generator, the same for every candidate. The guard scores without classes:
    the unconditional logit, the one model.guard fits."""
    k = z.shape[0] // n
    ranked = guard is not None and k > 1
    # In bf16 where it is native (G costs 4x what D does, and bf16 halves it: the reply with
    # the guard fits 30 ms, README). The winner is sent as drawn: against its fp32 drawing it
    # is 0.3 levels of 255 off on average (p99 2), which nobody can see.
    images = _draw(sampler, z, classes, bf16=ranked and guard.bf16)  # (n * k, C, S, S) uint8
    if not ranked:
        picks, scores = [i * k for i in range(n)], [None] * n
    else:
        logits = guard.scores(images).reshape(n, k)  # (n, k)
        best = logits.argmax(dim=1)  # (n,)
        picks = [i * k + int(best[i]) for i in range(n)]
        scores = [float(logits[i, best[i]]) for i in range(n)]
    return [Served(images[j], z[j], seed_id, score) for j, score in zip(picks, scores,
                                                                           strict=True)]


def _draw(sampler: Sampler, z: torch.Tensor, classes: torch.Tensor | None,
          bf16: bool = False) -> torch.Tensor:
    """(B, z_dim) latents -> (B, C, S, S) uint8; classes (1, k) for every row, or None."""
    if classes is None:
        return sampler.generate(z, bf16=bf16)
    return sampler.generate(z, classes=classes.expand(z.shape[0], -1), bf16=bf16)


def morph_frames(sampler: Sampler, a: torch.Tensor, b: torch.Tensor, frames: int
                 ) -> torch.Tensor:
    """uint8 (frames, C, S, S): the pictures along the great circle from latent a to b.
    A conditional generator keeps a's classes throughout: a class drawn per frame would
    flicker between subgroups and tones."""
    path = slerp(a, b, torch.linspace(0.0, 1.0, frames))
    if not sampler.cond:
        return sampler.generate(path)
    sizes = tuple(len(c) for c in sampler.cond.values())
    classes = latent_classes(a.reshape(1, -1).float().cpu(), sizes)  # (1, k): a's own
    return sampler.generate(path, classes=classes.expand(frames, -1))


def served_images(sampler: Sampler, seeds: SeedBook, n: int, options: ServeOptions,
                  guard: Guard | None = None, seed: int = 0) -> torch.Tensor:
    """n pictures exactly as the bot would send them (for scoring): uint8 (n, C, S, S)."""
    return torch.stack([serve(sampler, seeds, f"eval-{seed}-{i}", options, guard).image
                        for i in range(n)])

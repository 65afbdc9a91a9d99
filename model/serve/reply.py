"""A reply, drawn as the bot draws it: a seed picked for the request (by kind and tone), noise
near it, the guard's best of k; "more like this" near a picture; morph frames; and the served
pictures the evaluation scores. Every draw starts from a Latent (z and its classes, one value)
and every picture carries the classes it was drawn in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch

from model.data.kinds import Label
from model.serve.guard import Guard
from model.serve.latents import (
    Latent,
    near_seed,
    plain_latents,
    random_classes,
    request_rng,
    slerp,
)
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
    # what a conditional generator drew it in, every label set named ({}: unconditional)
    classes: Mapping[str, str] = field(default_factory=dict)

    @property
    def latent(self) -> Latent:
        """Where it was drawn from, to draw more like it: its z in its classes."""
        return Latent(tuple(self.z.tolist()), self.classes)


def serve(sampler: Sampler, seeds: SeedBook, request_id: str, options: ServeOptions,
          guard: Guard | None = None, seed_id: int | None = None, kind: str | None = None,
          tone: str | None = None) -> Served:
    """One picture as the bot sends it, deterministic given the request id: pick a good seed
    (or use seed_id), draw best_of latents near it, send the one the guard ranks highest.
    kind and tone (a kinds.json name, one of TONES) narrow the pick as pick_seed says; they
    are ignored with seed_id. The picture carries its seed's label: whoever asked can tell
    from it what was drawn. A class-conditional generator draws it in the seed's classes
    (Seed.latent: its label's, else its latent's own); with no seed, classes from rng."""
    rng = request_rng(request_id)
    if seed_id is not None:
        seed = seeds.get(seed_id)
        if seed is None:
            known = ", ".join(str(s.id) for s in seeds.seeds) or "none"
            raise ValueError(f"no seed #{seed_id} (known: {known})")
    else:
        seed, _ = pick_seed(seeds, rng, kind, tone)
    if seed is None:
        # A conditional G: classes from rng, drawn before the latents (an unconditional one
        # draws nothing here: its replies stay the same).
        at = Latent((), random_classes(sampler.cond, rng))
        k = options.best_of if guard is not None else 1
        z = plain_latents(k, sampler.z_dim, rng)  # (k, z_dim)
        return _best(sampler, z, 1, guard, None, at.at(z[0]).drawn(sampler.cond))[0]
    served = _best(sampler, _candidates(seed.tensor(), 1, options, guard, rng), 1, guard,
                   seed.id, seed.latent().drawn(sampler.cond))[0]
    return replace(served, label=seed.label)


def serve_near(sampler: Sampler, at: Latent, request_id: str, n: int,
               options: ServeOptions, guard: Guard | None = None,
               seed_id: int | None = None) -> list[Served]:
    """n pictures near one picture's latent, each the guard's best of its own best_of
    candidates, all drawn in one batch: "more like this" of a picture somebody liked.
    Deterministic given the request id; seed_id is only carried along (the good seed the
    picture came from). A conditional generator draws all n in the picture's classes (a
    label set it does not name: the class its latent draws by itself), never in classes
    of their own latents."""
    rng = request_rng(request_id)
    return _best(sampler, _candidates(at.tensor(), n, options, guard, rng), n, guard, seed_id,
                 at.drawn(sampler.cond))


def _candidates(center: torch.Tensor, n: int, options: ServeOptions, guard: Guard | None,
                rng: torch.Generator) -> torch.Tensor:
    """(n * k, z_dim) latents near center: k candidates for each of n pictures."""
    k = options.best_of if guard is not None else 1
    return near_seed(center, n * k, options.sigma, rng, options.preserve_norm)


def _best(sampler: Sampler, z: torch.Tensor, n: int, guard: Guard | None,
          seed_id: int | None, drawn: Latent) -> list[Served]:
    """Of (n * k, z_dim) candidates, rows i*k..(i+1)*k-1 competing for picture i, the n the
    guard ranks highest (the first of each group without a guard). drawn: the classes of
    every candidate, each label set named (Latent.drawn; no classes: unconditional). The
    guard scores without classes: the unconditional logit, the one model.guard fits."""
    k = z.shape[0] // n
    ranked = guard is not None and k > 1
    classes = drawn.indices(sampler.cond)  # (1, k), or None
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
    return [Served(images[j], z[j], seed_id, score, classes=drawn.classes)
            for j, score in zip(picks, scores, strict=True)]


def _draw(sampler: Sampler, z: torch.Tensor, classes: torch.Tensor | None,
          bf16: bool = False) -> torch.Tensor:
    """(B, z_dim) latents -> (B, C, S, S) uint8; classes (1, k) for every row, or None."""
    if classes is None:
        return sampler.generate(z, bf16=bf16)
    return sampler.generate(z, classes=classes.expand(z.shape[0], -1), bf16=bf16)


def morph_frames(sampler: Sampler, a: Latent, b: Latent, frames: int) -> torch.Tensor:
    """uint8 (frames, C, S, S): the pictures along the great circle from a to b, the first
    exactly a (in a's classes), the last exactly b (in b's). A conditional generator adds a
    class embedding to z (Sampler.class_shift): the frames between blend the two classes'
    embeddings linearly, so the kind and tone change smoothly instead of jumping (a class
    drawn per frame would flicker between kinds)."""
    t = torch.linspace(0.0, 1.0, frames)  # (F,)
    path = slerp(a.tensor(), b.tensor(), t)  # (F, z_dim)
    if not sampler.cond:
        return sampler.generate(path)
    ca, cb = a.indices(sampler.cond), b.indices(sampler.cond)  # (1, k) each
    gap = sampler.class_shift(cb) - sampler.class_shift(ca)  # (1, z_dim)
    # The first half drawn in a's classes plus t of the gap, the second in b's minus (1 - t)
    # of it: the same input either way, and each end exactly its own picture.
    late = (t >= 0.5).reshape(-1, 1)  # (F, 1)
    t = t.reshape(-1, 1)
    path = path + torch.where(late, (t - 1) * gap, t * gap)
    return sampler.generate(path, classes=torch.where(late, cb, ca))


def served_images(sampler: Sampler, seeds: SeedBook, n: int, options: ServeOptions,
                  guard: Guard | None = None, seed: int = 0) -> torch.Tensor:
    """n pictures exactly as the bot would send them (for scoring): uint8 (n, C, S, S)."""
    return torch.stack([serve(sampler, seeds, f"eval-{seed}-{i}", options, guard).image
                        for i in range(n)])

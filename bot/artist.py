"""Request -> picture: PNG bytes, alt text and the seed it came from.

Loads the generator once. Each request picks one of the curated good seeds and adds
N(0, sigma^2) noise, so every reply is new but stays near a picture somebody liked; with no seeds
it falls back to the plain N(0, I) prior (with one warning). Everything random is drawn from a
generator seeded by the request id, so a reply can be reproduced from its id. Weights whose
model card says they are a dry run, or records the SWD of noise, are refused at load
(model.checkpoint.unservable_reason): a UserError, one line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from model.checkpoint import unservable_reason
from model.errors import UserError
from model.sampler import (
    Sampler,
    SeedBook,
    ServeOptions,
    load_guard,
    load_seeds,
    render_png,
    serve,
)

log = logging.getLogger(__name__)

REPLY_SIZE = 256  # pixels per side people see


@dataclass(frozen=True)
class Drawing:
    png: bytes
    alt_text: str
    seed_id: int | None
    size: int  # pixels per side of the PNG


@dataclass
class ArtistOptions:
    sigma: float = 0.5
    preserve_norm: bool = False
    upscale: int | None = None  # None: to REPLY_SIZE px (4x a 64 px picture, 2x a 128 px one)
    resample: str = "lanczos"
    device: str = "auto"
    best_of: int = 8  # candidates per picture, the discriminator's favourite is sent


class Artist:
    def __init__(self, weights_dir: Path, seeds_path: Path, options: ArtistOptions):
        self.options = options
        self.sampler = Sampler.load(weights_dir, options.device)
        reason = unservable_reason(self.sampler.card)
        if reason is not None:
            raise UserError(f"weights in {weights_dir} cannot be served: {reason}")
        self.seeds: SeedBook = load_seeds(seeds_path, self.sampler.z_dim)
        self.weights_dir, self.seeds_path = weights_dir, seeds_path
        # The guard: best of k by the discriminator, when the weights ship one.
        self.guard = load_guard(weights_dir, self.sampler.device) if options.best_of > 1 else None
        if options.best_of > 1 and self.guard is None:
            log.info("no discriminator in %s: each picture is the first of its candidates "
                     "(no best-of-%d guard)", weights_dir, options.best_of)
        if not self.seeds.seeds:
            log.warning("no good seeds in %s: drawing from the plain prior, which gives "
                        "more odd pictures; curate seeds with python -m model.explore",
                        seeds_path)

    def draw(self, request_id: str, seed_id: int | None = None) -> Drawing:
        """The picture for a request (deterministic given its id), as PNG bytes."""
        o = self.options
        if seed_id is not None and self.seeds.get(seed_id) is None:
            known = id_ranges([s.id for s in self.seeds.seeds])
            raise ValueError(f"no seed #{seed_id} in {self.seeds_path} (known: {known})")
        served = serve(self.sampler, self.seeds, request_id,
                       ServeOptions(o.sigma, o.preserve_norm, o.best_of), self.guard, seed_id)
        scale = o.upscale or max(1, REPLY_SIZE // served.image.shape[-1])
        png = render_png(served.image, scale, o.resample)
        size = served.image.shape[-1] * scale
        return Drawing(png, alt_text(served.seed_id, o.sigma), served.seed_id, size)


def id_ranges(ids: list[int]) -> str:
    """[1, 2, 3, 5, 7, 8] -> '1-3, 5, 7-8': a hundred seed ids in one short line."""
    out: list[str] = []
    for i in sorted(set(ids)):
        if out and "-" not in out[-1].lstrip("-") and int(out[-1]) == i - 1:
            out[-1] = f"{out[-1]}-{i}"
        elif out and "-" in out[-1].lstrip("-") and int(out[-1].rsplit("-", 1)[1]) == i - 1:
            out[-1] = f"{out[-1].rsplit('-', 1)[0]}-{i}"
        else:
            out.append(str(i))
    return ", ".join(out) or "none"


def alt_text(seed_id: int | None, sigma: float) -> str:
    if seed_id is None:
        return ("A generated illustration of a person in a flat, emoji-like style, made by a "
                "GAN from a random latent vector.")
    return ("A generated illustration of a person in a flat, emoji-like style, made by a GAN "
            f"from seed #{seed_id} with noise {sigma:g}.")

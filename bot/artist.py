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

import torch

from model.checkpoint import unservable_reason
from model.errors import UserError
from model.sampler import (
    Sampler,
    SeedBook,
    load_seeds,
    near_seed,
    plain_latents,
    render_png,
    request_rng,
)

log = logging.getLogger(__name__)


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
    upscale: int = 4
    resample: str = "lanczos"
    device: str = "auto"


class Artist:
    def __init__(self, weights_dir: Path, seeds_path: Path, options: ArtistOptions):
        self.options = options
        self.sampler = Sampler.load(weights_dir, options.device)
        reason = unservable_reason(self.sampler.card)
        if reason is not None:
            raise UserError(f"weights in {weights_dir} cannot be served: {reason}")
        self.seeds: SeedBook = load_seeds(seeds_path, self.sampler.z_dim)
        self.weights_dir, self.seeds_path = weights_dir, seeds_path
        if not self.seeds.seeds:
            log.warning("no good seeds in %s: drawing from the plain prior, which gives "
                        "more odd pictures; curate seeds with python -m model.explore",
                        seeds_path)

    def latent(self, request_id: str, seed_id: int | None = None
               ) -> tuple[torch.Tensor, int | None]:
        """(1, z_dim) latent for the request, and the seed id it is near (None: the prior)."""
        rng = request_rng(request_id)
        if seed_id is not None:
            seed = self.seeds.get(seed_id)
            if seed is None:
                known = ", ".join(str(s.id) for s in self.seeds.seeds) or "none"
                raise ValueError(f"no seed #{seed_id} in {self.seeds_path} (known: {known})")
        elif self.seeds.seeds:
            seed = self.seeds.seeds[int(torch.randint(len(self.seeds.seeds), (1,),
                                                      generator=rng))]
        else:
            return plain_latents(1, self.sampler.z_dim, rng), None
        z = near_seed(seed.tensor(), 1, self.options.sigma, rng, self.options.preserve_norm)
        return z, seed.id

    def draw(self, request_id: str, seed_id: int | None = None) -> Drawing:
        z, used = self.latent(request_id, seed_id)
        image = self.sampler.generate(z)[0]  # (3, S, S) uint8
        png = render_png(image, self.options.upscale, self.options.resample)
        size = image.shape[-1] * self.options.upscale
        return Drawing(png, alt_text(used, self.options.sigma), used, size)


def alt_text(seed_id: int | None, sigma: float) -> str:
    if seed_id is None:
        return ("A generated illustration of a person in a flat, emoji-like style, made by a "
                "GAN from a random latent vector.")
    return ("A generated illustration of a person in a flat, emoji-like style, made by a GAN "
            f"from seed #{seed_id} with noise {sigma:g}.")

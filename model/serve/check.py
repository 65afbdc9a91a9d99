"""The start-up drawing: a generator and its seeds draw a few pictures before they serve any.

Weights whose bytes survived every check of the file (the card's sha256, finite tensors) can
still draw nothing: an export of a generator that collapsed, or a seed far off the prior, gives
black or one-colour squares. Those are refused at load (and at the bot's SIGHUP, where the old
weights then stay), never sent to people.
"""

from __future__ import annotations

from pathlib import Path

import torch

from model.errors import UserError
from model.serve.pictures import to_uint8
from model.serve.sampler import Sampler
from model.serve.seeds import SeedBook

# Latents from the plain prior (fixed, so the check is the same at every start), then the first
# and the last good seed: four pictures, about one reply's drawing at start. A seed's picture
# is refused only when it is not finite: a degenerate seed (all zeros, for a generator without
# biases) may draw one flat colour from weights that are fine.
PRIOR_DRAWS = 2


@torch.inference_mode()
def bad_drawing(sampler: Sampler, z: torch.Tensor, flat_rows: int | None = None
                ) -> tuple[int, str] | None:
    """The first of these (B, z_dim) latents whose picture is unfit to send, and why (values
    that are not finite; or, among the first flat_rows (default: all), one colour all over);
    None when all are fine. Each latent draws its own classes, as the sampler does without
    any."""
    raw = torch.cat([sampler.generator(chunk.to(sampler.device)).float().cpu()
                     for chunk in z.float().split(64)])
    finite = torch.isfinite(raw).flatten(1).all(1)
    values = raw.nan_to_num(0.0).flatten(1)
    # One value everywhere, to float precision: zeroed weights, or tanh saturated at -1 (a
    # black square). An untrained generator still varies (by ~1e-4 in a random init); its
    # card's SWD is what refuses it (unservable_reason).
    flat = (values.amax(1) - values.amin(1)) < 1e-6
    flat[len(z) if flat_rows is None else flat_rows:] = False
    for i in range(len(z)):
        if not finite[i]:
            return i, "values that are not finite (NaN or inf)"
        if flat[i]:
            level = to_uint8(values[i, :1].reshape(1, 1, 1, 1)).item()
            return i, f"a picture of one colour (every pixel {level} of 255)"
    return None


def check_drawing(sampler: Sampler, seeds: SeedBook, weights_dir: Path | str,
                  seeds_path: Path | str) -> None:
    """UserError (one line) unless a few pictures from the prior and from the seeds come out
    as pictures: what a reply would send otherwise is a black square."""
    prior = torch.randn(PRIOR_DRAWS, sampler.z_dim, generator=torch.Generator().manual_seed(0))
    picked = seeds.seeds[:1] + seeds.seeds[1:][-1:]
    z = torch.cat([prior, *(s.tensor().reshape(1, -1) for s in picked)])
    found = bad_drawing(sampler, z, flat_rows=PRIOR_DRAWS)
    if found is None:
        return
    i, what = found
    if i < PRIOR_DRAWS:
        raise UserError(f"weights in {weights_dir} cannot be served: a test drawing at start "
                        f"came out as {what}; re-export them with python -m model.train, or "
                        "restore weights/ from git")
    seed = picked[i - PRIOR_DRAWS]
    raise UserError(f"seed #{seed.id} in {seeds_path} cannot be served: a test drawing of it "
                    f"came out as {what}; fix or remove that seed")

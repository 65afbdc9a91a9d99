"""The serving API: everything the bot needs from model/, and the one module of it the bot imports.

    from model.serve import Sampler, ServeOptions, load_guard, load_seeds, serve, request_rng

    sampler = Sampler.load("weights")                       # best device, eval mode
    seeds = load_seeds("weights/seeds.json", sampler.z_dim)
    served = serve(sampler, seeds, "mastodon:123", ServeOptions(sigma=0.5, best_of=8),
                   guard=load_guard("weights"))             # the same id draws the same picture

A reply is drawn near a curated good seed (``seeds``: picked by kind and skin tone), with noise
from the request's own random stream (``latents``), the best of k candidates ranked by the fitted
discriminator (``guard``), by the generator loaded from a weights folder (``sampler``), and sent
as PNG or GIF bytes (``pictures``); ``reply`` holds that policy. Every draw from a seed or a
sent picture starts from a ``Latent``: its z and its classes as one value (``Seed.latent()``,
``Served.latent``), so that a class-conditional generator keeps the picture's kind and tone.
The kinds table (``load_kinds``, ``Label``, ``TONES``) and the weights card's checks
(``read_card``, ``unservable_reason``) are re-exported here so that the bot needs no other
model module (docs/ARCHITECTURE.md).
"""

from model.data.kinds import TONES, Label, load_kinds
from model.nets.weights import read_card, unservable_reason
from model.serve.check import check_drawing
from model.serve.guard import Guard, load_guard
from model.serve.latents import Latent, label_names, near_seed, plain_latents, request_rng, slerp
from model.serve.pictures import PNG_LEVEL, make_grid, render_png, to_gif, to_pil, to_uint8
from model.serve.reply import (
    Served,
    ServeOptions,
    morph_frames,
    serve,
    serve_near,
    served_images,
)
from model.serve.sampler import Sampler
from model.serve.seeds import SEEDS_FILE, Match, Seed, SeedBook, load_seeds, pick_seed, save_seeds

__all__ = [
    "PNG_LEVEL", "SEEDS_FILE", "TONES", "Guard", "Label", "Latent", "Match", "Sampler", "Seed",
    "SeedBook", "ServeOptions", "Served", "check_drawing", "label_names", "load_guard",
    "load_kinds", "load_seeds",
    "make_grid", "morph_frames", "near_seed", "pick_seed", "plain_latents", "read_card",
    "render_png", "request_rng", "save_seeds", "serve", "serve_near", "served_images", "slerp",
    "to_gif", "to_pil", "to_uint8", "unservable_reason",
]

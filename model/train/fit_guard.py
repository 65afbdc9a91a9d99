"""Fit the serving guard: train the discriminator against the generator the bot serves.

    python -m model.guard weights --data emoji-people --minutes 10
    python -m model.guard runs/emoji --data emoji-people --kimg 50 --from-scratch

The guard ranks k candidates and sends D's favourite (model.serve.reply.serve). Discriminator
rejection sampling (Azadi et al., ICLR 2019) does not use D as training left it: G keeps moving
while D learns, and the exported G is the EMA copy in eval mode, which D never saw. So D is
trained on: real images against the exported generator's eval-mode pictures, with G frozen
(Azadi et al. likewise keep training D with G fixed). By default without DiffAugment: the
guard ranks clean pictures, and a D trained on augmented ones learnt that the white borders of
translated and the blank squares of cut-out real pictures mean "real", so it ranked broken,
half-blank candidates first (seen on this data). Held-out memorisation (model.evaluate) checks
that the clean D does not push the replies towards copies. It starts from the folder's
discriminator.safetensors (or the run's ckpt.pt) unless --from-scratch, and writes
discriminator.safetensors and its card entry back into the weights folder, marked
"fitted_for_serving": true. The bot uses no other discriminator as its guard: a training run
exports its own marked false, and until it is fitted here the bot serves without a guard.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from model.data.images import load_dataset, random_flip, to_float
from model.data.split import without_held_out
from model.device import pick_device
from model.errors import UserError, run_cli
from model.nets.augment import diff_augment, parse_policy
from model.nets.build import build_discriminator
from model.nets.losses import d_nonsaturating
from model.nets.weights import load_discriminator, read_card, save_discriminator
from model.serve.sampler import Sampler
from model.train.state import CKPT_FILE, discriminator_from_checkpoint


def starting_discriminator(weights: Path, sampler: Sampler, from_scratch: bool,
                           device: torch.device) -> tuple[torch.nn.Module, str]:
    """The D to continue: the exported one, else the run's checkpoint, else a new one."""
    config = sampler.generator.config
    if not from_scratch:
        exported = load_discriminator(weights, device)
        if exported is not None:
            return exported, "the exported discriminator"
        if (weights / CKPT_FILE).is_file():
            d, _ = discriminator_from_checkpoint(weights / CKPT_FILE)
            return d.to(device), f"the discriminator in {CKPT_FILE}"
    torch.manual_seed(0)
    return build_discriminator(config).to(device), "a new discriminator"


def fit_guard(weights: Path, data: str, *, minutes: float | None, kimg: float, batch: int = 64,
              lr: float = 2e-4, from_scratch: bool = False, device: str = "auto",
              cache_dir: Path | None = None, seed: int = 0,
              augment: str = "none", held_out: float = 0.0) -> dict[str, Any]:
    """Train D on real vs the served generator's pictures; save it as the guard."""
    dev = pick_device(device)
    sampler = Sampler.load(weights, str(dev))  # eval mode: the pictures as served
    g = sampler.generator.requires_grad_(False)
    config = g.config
    card = read_card(weights)
    policy = parse_policy(((card.get("training") or {}).get("augment") or "none")
                          if augment == "training" else augment)
    ds = load_dataset(data, config.image_size, cache_dir)
    if held_out > 0:  # a comparison run's guard sees no more of the data than its G did
        ds = without_held_out(ds, held_out, batch)
    real_all = ds.images  # (N, 3, S, S) uint8
    d, start = starting_discriminator(weights, sampler, from_scratch, dev)
    d.train()
    opt = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    seen, steps, t0 = 0, 0, time.monotonic()
    while seen < kimg * 1000 and (minutes is None or time.monotonic() - t0 < minutes * 60):
        idx = torch.randint(len(real_all), (batch,), generator=gen)
        real = random_flip(to_float(real_all[idx]).to(dev))  # (B, 3, S, S) in [-1, 1]
        with torch.no_grad():
            fake = g(torch.randn(batch, config.z_dim, generator=gen).to(dev))
        pair = diff_augment(torch.cat([real, fake]), policy)
        if config.d_norm == "batch":  # BatchNorm must not mix real and fake statistics
            logits = torch.cat([d(pair[:batch]), d(pair[batch:])]).float()
        else:
            logits = d(pair).float()  # (2B,)
        loss = d_nonsaturating(logits[:batch], logits[batch:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += batch
        steps += 1
    d.eval()
    with torch.no_grad():  # how well it separates, on clean pictures (as it will rank them)
        idx = torch.randint(len(real_all), (256,), generator=gen)
        real_logit = d(to_float(real_all[idx]).to(dev)).float().mean().item()
        fake_logit = d(g(torch.randn(256, config.z_dim, generator=gen).to(dev))).float()
        fake_logit = fake_logit.mean().item()
    entry = {"trained_against": "the exported generator, frozen, eval mode",
             "started_from": start, "real_images": len(real_all), "held_out": held_out,
             "images_seen": seen, "steps": steps,
             "minutes": round((time.monotonic() - t0) / 60, 2), "augment": list(policy),
             "mean_logit_real": round(real_logit, 3), "mean_logit_generated": round(fake_logit, 3),
             "fitted_for_serving": True,
             "use": "best-of-k guard: ranks candidate pictures, never thresholds"}
    save_discriminator(weights, d, config, entry)
    return entry


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.guard", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path, help="a weights folder (weights/ or a run)")
    ap.add_argument("--data", required=True, help="a folder of images, or emoji-people")
    ap.add_argument("--minutes", type=float, default=None, help="stop after this wall time")
    ap.add_argument("--kimg", type=float, default=100.0,
                    help="stop after this many thousand real images (default 100)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--augment", default="none",
                    help="DiffAugment ops while fitting (default none: the guard ranks clean "
                         "pictures); 'training' for the run's own policy")
    ap.add_argument("--from-scratch", action="store_true",
                    help="a new discriminator instead of the exported or checkpointed one")
    ap.add_argument("--held-out", type=float, default=0.0,
                    help="fit without the held-out base emoji, as a run trained with "
                    "model.train --held-out (e.g. 0.2)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--cache-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    if not 0 <= args.held_out < 1:
        raise UserError(f"--held-out must be a share in [0, 1), got {args.held_out}")
    if args.batch < 2 or args.kimg <= 0:
        raise UserError("--batch must be at least 2 and --kimg more than 0")
    entry = fit_guard(args.weights, args.data, minutes=args.minutes, kimg=args.kimg,
                      batch=args.batch, lr=args.lr, from_scratch=args.from_scratch,
                      device=args.device, cache_dir=args.cache_dir, augment=args.augment,
                      held_out=args.held_out)
    print(f"wrote {args.weights}/discriminator.safetensors: {entry['images_seen']} images in "
          f"{entry['minutes']} min from {entry['started_from']}; mean logit real "
          f"{entry['mean_logit_real']:+.2f}, generated {entry['mean_logit_generated']:+.2f}")
    return 0


if __name__ == "__main__":
    run_cli(main)

"""Score a weights folder against a data set: SWD (x1e3, per level and mean) and memorisation.

    python -m model.evaluate weights --data emoji-people
    python -m model.evaluate runs/mine --data ~/pictures --n 2000 --json scores.json

Samples are drawn in eval mode, as the bot serves single images.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from model.checkpoint import atomic_write_text
from model.data import load_dataset
from model.errors import UserError, run_cli
from model.metrics import memorisation_share, sliced_wasserstein
from model.sampler import Sampler


def evaluate(sampler: Sampler, real: torch.Tensor, n: int, seed: int = 0) -> dict[str, object]:
    """n generated images vs up to n real ones (uint8 (N, 3, S, S))."""
    gen = torch.Generator().manual_seed(seed)
    fakes = sampler.generate(torch.randn(n, sampler.z_dim, generator=gen))
    if len(real) > n:
        real = real[torch.randperm(len(real), generator=gen)[:n]]
    swd = sliced_wasserstein(real, fakes, seed=seed)
    return {"swd": swd.to_dict(), "memorisation_share": memorisation_share(fakes, real),
            "samples": n, "real": len(real)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path)
    ap.add_argument("--data", required=True, help="a folder of images, or emoji-people")
    ap.add_argument("--n", type=int, default=1000, help="generated samples (and real ones)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the scores here")
    args = ap.parse_args(argv)
    if args.n < 2:
        raise UserError(f"--n must be at least 2, got {args.n}")
    sampler = Sampler.load(args.weights, args.device)
    data = load_dataset(args.data, sampler.generator.config.image_size, args.cache_dir)
    result = evaluate(sampler, data.images, args.n, args.seed)
    swd = result["swd"]
    levels = ", ".join(f"{r}px {v:.1f}" for r, v in zip(swd["resolutions"], swd["per_level"],
                                                          strict=True))
    print(f"{args.weights}: SWD x1e3 mean {swd['mean']:.1f} ({levels}); memorisation share "
          f"{result['memorisation_share']:.1%} ({args.n} samples vs {result['real']} images)")
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    run_cli(main)

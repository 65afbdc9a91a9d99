"""Score a weights folder against a data set, two ways: plain samples and the served pictures.

    python -m model.evaluate weights --data emoji-people
    python -m model.evaluate weights --data emoji-people --n 500 --json scores.json
    python -m model.evaluate runs/r128 --data emoji-people --size 128 --size 64

plain: z ~ N(0, I), the generator's own distribution. served: the pictures the bot sends
(model.serve.reply.served_images: near the good seeds of --seeds with the bot's sigma, the best of
--best-of ranked by the discriminator when the weights folder ships one).

Each set gets: SWD x1e3 per pyramid level and mean (lower is better; model.evaluate.swd);
precision / recall / density / coverage, k=5 (Naeem et al. 2020) in the features of a fixed,
randomly initialised conv net (model.evaluate.features: nothing to download); and the held-out
memorisation test (model.evaluate.memorisation): "memo" is the share of samples closer to
a training image than 95 % of held-out real images are (~5 % like new data, ~100 % for
copies), "ratio" their median nearest-training distance over the held-out images' (~1 like new
data, ->0 copies). The held-out part is a fixed split by base emoji (model.data.split.heldout_mask);
the models train on all images, so a sample copying a held-out image is not counted.

Scores are at the generator's size; a 128 px generator is also scored at 64 px, its samples
area-averaged down and compared with the data decoded at 64 px (exactly what a 64 px model is
scored against), so 64 and 128 px models compare on one scale (--size picks the sizes).
Samples are drawn in eval mode, as the bot serves single images.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from model.data.images import load_dataset
from model.data.split import image_groups
from model.errors import UserError, run_cli
from model.evaluate.features import downscale_uint8
from model.evaluate.score import (
    K,
    _sizes,
    draw_latents,
    reference,
    score_samples,
    served_samples,
    split_summary,
)
from model.files import atomic_write_text
from model.serve.sampler import Sampler


def served_line(info: dict[str, Any]) -> str:
    seeds = f"{info['seeds']} seeds" if info["seeds"] else "no seeds (so the plain prior)"
    norm = ", norm-preserving" if info["preserve_norm"] else ""
    if info["guard"]:
        guard = f"best of {info['best_of']} by the discriminator"
    elif info["best_of"] > 1:
        guard = "no guard (the weights ship no discriminator)"
    else:
        guard = "no guard (best of 1)"
    return f"served: {seeds} from {info['seeds_file']}, sigma {info['sigma']}{norm}, {guard}"


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(scores: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The compact stdout table: one row per size and kind of samples."""
    head = (f"{'size':>4}  {'samples':<7} {'SWD x1e3 mean [per level]':<32} {'prec':>5} "
            f"{'recall':>6} {'dens':>5} {'cover':>5} {'memo':>6} {'ratio':>5}")
    rows = [head]
    for size, kinds in scores.items():
        for kind, r in kinds.items():
            if "swd" not in r:
                rows.append(f"{size:>4}  {kind:<7} {r.get('skipped', 'skipped')}")
                continue
            swd = r["swd"]
            levels = " ".join(f"{v:.1f}" for v in swd["per_level"])
            swd_text = f"{swd['mean']:.1f} [{levels}]"
            memo = r["memorisation"]
            rows.append(
                f"{size:>4}  {kind:<7} {swd_text:<32} "
                f"{_fmt(r['precision'], '.3f'):>5} {_fmt(r['recall'], '.3f'):>6} "
                f"{_fmt(r['density'], '.2f'):>5} {_fmt(r['coverage'], '.3f'):>5} "
                f"{memo['share']:>6.1%} {memo['median_ratio']:>5.2f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", type=Path)
    ap.add_argument("--data", required=True, help="a folder of images, or emoji-people")
    ap.add_argument("--n", type=int, default=1000, help="samples of each kind (and real ones)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, action="append", default=None,
                    help="score at this size (repeat for more); default: the generator's, and "
                         "64 too for a bigger generator")
    ap.add_argument("--seeds", type=Path, default=None, help="good seeds (default "
                    "WEIGHTS/seeds.json)")
    ap.add_argument("--sigma", type=float, default=None, help="served noise (default: the bot's)")
    ap.add_argument("--best-of", type=int, default=None,
                    help="served candidates per picture (default: the bot's)")
    ap.add_argument("--preserve-norm", action="store_true", help="served latents stay on the prior")
    ap.add_argument("--no-served", action="store_true", help="score plain samples only")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write every score here")
    args = ap.parse_args(argv)
    if args.n <= K:
        raise UserError(f"--n must be more than {K} (the k-NN metrics' k), got {args.n}")
    if args.sigma is not None and (args.sigma < 0 or (args.preserve_norm and args.sigma > 1)):
        raise UserError(f"--sigma must be >= 0 (and <= 1 with --preserve-norm), got {args.sigma}")
    if args.best_of is not None and args.best_of < 1:
        raise UserError(f"--best-of must be at least 1, got {args.best_of}")
    started = time.perf_counter()
    sampler = Sampler.load(args.weights, args.device)
    native = sampler.generator.config.image_size
    sizes = _sizes(args.size, native)

    z, _ = draw_latents(args.n, sampler.z_dim, 1, args.seed)
    samples = {"plain": sampler.generate(z)}
    served_info: dict[str, Any] = {"skipped": "--no-served"}
    if not args.no_served:
        from model.serve.seeds import SEEDS_FILE

        seeds_path = args.seeds or args.weights / SEEDS_FILE
        samples["served"], served_info = served_samples(
            sampler, args.weights, args.n, args.seed, seeds_path, args.sigma, args.best_of,
            args.preserve_norm)

    scores: dict[str, dict[str, dict[str, Any]]] = {}
    split: dict[str, Any] = {}
    for size in sizes:
        data = load_dataset(args.data, size, args.cache_dir)
        groups = image_groups(data)
        ref = reference(data.images, args.n, sampler.z_dim, args.seed, groups)
        split = split_summary(ref, groups)
        scores[str(size)] = {kind: score_samples(downscale_uint8(images, size), ref, args.seed)
                             for kind, images in samples.items()}
    seconds = time.perf_counter() - started

    print(f"{args.weights}: {native} px generator vs {args.data} ({split['images']} images; "
          f"memorisation against {split['train']} train, {split['heldout']} held out in "
          f"{split['heldout_groups']} of {split['groups']} groups); {args.n} samples, seed "
          f"{args.seed}")
    if "skipped" not in served_info:
        print(served_line(served_info))
    print(table(scores))
    print(f"({seconds:.0f} s)")
    if args.json:
        result = {"weights": str(args.weights), "data": args.data, "generator_size": native,
                  "samples": args.n, "seed": args.seed, "k": K, "split": split,
                  "served": served_info, "scores": scores, "seconds": round(seconds, 1)}
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    run_cli(main)

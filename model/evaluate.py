"""Score a weights folder against a data set, two ways: plain samples and the served pictures.

    python -m model.evaluate weights --data emoji-people
    python -m model.evaluate weights --data emoji-people --n 500 --json scores.json
    python -m model.evaluate runs/r128 --data emoji-people --size 128 --size 64

plain: z ~ N(0, I), the generator's own distribution. served: the pictures the bot sends
(model.sampler.served_images: near the good seeds of --seeds with the bot's sigma, the best of
--best-of ranked by the discriminator when the weights folder ships one).

Each set gets: SWD x1e3 per pyramid level and mean (lower is better; model.metrics);
precision / recall / density / coverage, k=5 (Naeem et al. 2020) in the features of a fixed,
randomly initialised conv net (model.features: nothing to download); and the held-out
memorisation test (model.metrics.heldout_memorisation): "memo" is the share of samples closer to
a training image than 95 % of held-out real images are (~5 % like new data, ~100 % for
copies), "ratio" their median nearest-training distance over the held-out images' (~1 like new
data, ->0 copies). The held-out part is a fixed split by base emoji (model.data.heldout_mask);
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from model.checkpoint import atomic_write_text
from model.data import heldout_mask, image_groups, load_dataset
from model.errors import UserError, run_cli
from model.features import downscale_uint8, random_features
from model.metrics import heldout_memorisation, prdc, sliced_wasserstein
from model.sampler import Sampler

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


def _draw(n: int, z_dim: int, n_real: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
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
    """real: uint8 (N, 3, S, S), N >= 2; groups: one name per image (model.data.image_groups),
    None to hold out single images (right only when no two images are near copies)."""
    if real.shape[0] < 2:
        raise ValueError(f"scoring needs at least 2 real images (train and held out), "
                         f"got {real.shape[0]}")
    if groups is None:
        groups = [str(i) for i in range(real.shape[0])]
    if len(groups) != real.shape[0]:
        raise ValueError(f"{len(groups)} groups for {real.shape[0]} images")
    _, subset = _draw(n, z_dim, real.shape[0], seed)
    return Reference(real, subset, heldout_mask(groups, HELDOUT_FRACTION, SPLIT_SEED))


def score_samples(fakes: torch.Tensor, ref: Reference, seed: int = 0, k: int = K
                  ) -> dict[str, Any]:
    """Every score of generated uint8 (M, 3, S, S) images against one Reference.

    Keys: swd (resolutions, per_level, mean), precision, recall, density, coverage (None when
    either set has k or fewer images), k, memorisation (model.metrics.HeldOutResult as a dict),
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
    groups (model.data.image_groups; None: single images). classes: (n, k) for a
    class-conditional generator (Sampler.generate), e.g. the data's own labels.
    """
    z, _ = _draw(n, sampler.z_dim, real.shape[0], seed)
    ref = reference(real, n, sampler.z_dim, seed, groups)
    return score_samples(sampler.generate(z, classes=classes), ref, seed, k)


# ---------------------------------------------------------------- CLI


def served_samples(sampler: Sampler, weights: Path, n: int, seed: int, seeds_path: Path,
                   sigma: float | None, best_of: int | None, preserve_norm: bool
                   ) -> tuple[torch.Tensor, dict[str, Any]]:
    """n pictures as the bot sends them, and how they were drawn."""
    from model.sampler import ServeOptions, load_guard, load_seeds, served_images

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

    z, _ = _draw(args.n, sampler.z_dim, 1, args.seed)
    samples = {"plain": sampler.generate(z)}
    served_info: dict[str, Any] = {"skipped": "--no-served"}
    if not args.no_served:
        from model.sampler import SEEDS_FILE

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

"""Draw pictures from a weights folder, without a browser.

    python -m model.sample images weights --n 16 --out out/            # 16 PNGs
    python -m model.sample images weights --n 16 --out out/ --near-seeds --sigma 0.5
    python -m model.sample grid weights --out grid.png                  # one 8x8 sheet
    python -m model.sample sheet weights --n 256 --out sheet.png        # numbered candidates
    python -m model.sample interpolate weights 3 7 --out 3-7.gif        # slerp between seeds
    python -m model.sample neighbours weights 3 --out n3.png            # as the bot draws #3

``sheet`` writes the candidates' latents beside the PNG (sheet.json) so that the numbers a
curator picks can be turned into good seeds.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from model.checkpoint import atomic_write_text
from model.errors import UserError, run_cli
from model.sampler import (
    SEEDS_FILE,
    Sampler,
    load_seeds,
    make_grid,
    near_seed,
    plain_latents,
    slerp,
    to_gif,
    to_pil,
)


def latents(sampler: Sampler, n: int, rng: torch.Generator, near_seeds: bool, sigma: float,
            seeds_path: Path, preserve_norm: bool = False) -> tuple[torch.Tensor, list[int | None]]:
    """(n, z_dim) latents, and the seed id each came from (None for plain draws)."""
    if not near_seeds:
        return plain_latents(n, sampler.z_dim, rng), [None] * n
    book = load_seeds(seeds_path, sampler.z_dim)
    if not book.seeds:
        raise UserError(f"--near-seeds needs good seeds, and {seeds_path} has none; curate "
                        "some with python -m model.sample sheet or python -m model.explore")
    picks = torch.randint(len(book.seeds), (n,), generator=rng).tolist()
    zs = [near_seed(book.seeds[i].tensor(), 1, sigma, rng, preserve_norm) for i in picks]
    return torch.cat(zs), [book.seeds[i].id for i in picks]


def numbered_sheet(images: torch.Tensor, nrow: int, scale: int = 2) -> Image.Image:
    """uint8 (B, C, H, W) -> a grid with each cell's number (from 0) printed under it."""
    b, _, h, w = images.shape
    label = 12
    cols = min(nrow, b)
    rows = math.ceil(b / cols)
    cell_w, cell_h = w * scale + 4, h * scale + label + 4
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i in range(b):
        y, x = divmod(i, cols)
        sheet.paste(to_pil(images[i], scale), (x * cell_w + 2, y * cell_h + 2))
        draw.text((x * cell_w + 4, y * cell_h + h * scale + 3), str(i), fill=(0, 0, 0))
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.sample", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, n: int) -> None:
        p.add_argument("weights", type=Path, help="a weights folder (weights/ or a run)")
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--n", type=int, default=n)
        p.add_argument("--seed", type=int, default=0, help="random seed of the draw")
        p.add_argument("--device", default="auto")

    images = sub.add_parser("images", help="write N PNGs")
    common(images, 16)
    grid = sub.add_parser("grid", help="write one sheet of N pictures")
    common(grid, 64)
    for p in (images, grid):
        p.add_argument("--near-seeds", action="store_true",
                       help="sample near the good seeds, as the bot does")
        p.add_argument("--sigma", type=float, default=0.5)
        p.add_argument("--preserve-norm", action="store_true",
                       help="sqrt(1 - sigma^2) z + sigma e instead of z + sigma e")
        p.add_argument("--seeds", type=Path, default=None,
                       help=f"good seeds (default WEIGHTS/{SEEDS_FILE})")
        p.add_argument("--scale", type=int, default=1, help="upscale factor (nearest)")
    sheet = sub.add_parser("sheet", help="numbered candidates, latents saved beside")
    common(sheet, 256)
    interp = sub.add_parser("interpolate", help="a slerp GIF between two good seeds")
    common(interp, 16)
    interp.add_argument("a", type=int, help="seed id")
    interp.add_argument("b", type=int, help="seed id")
    neigh = sub.add_parser("neighbours", help="a sheet of sigma-noise neighbours of a seed")
    common(neigh, 16)
    neigh.add_argument("seed_id", type=int)
    neigh.add_argument("--sigma", type=float, default=0.5)
    for p in (interp, neigh):
        p.add_argument("--seeds", type=Path, default=None,
                       help=f"good seeds (default WEIGHTS/{SEEDS_FILE})")
    args = ap.parse_args(argv)

    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    sampler = Sampler.load(args.weights, args.device)
    rng = torch.Generator().manual_seed(args.seed)

    if args.command in ("interpolate", "neighbours"):
        seeds_path = args.seeds or args.weights / SEEDS_FILE
        book = load_seeds(seeds_path, sampler.z_dim)
        wanted = [args.a, args.b] if args.command == "interpolate" else [args.seed_id]
        missing = [i for i in wanted if book.get(i) is None]
        if missing:
            known = ", ".join(str(s.id) for s in book.seeds) or "none"
            raise UserError(f"no seed {', '.join(f'#{i}' for i in missing)} in {seeds_path} "
                            f"(known: {known})")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.command == "interpolate":
            zs = slerp(book.get(args.a).tensor(), book.get(args.b).tensor(),
                       torch.linspace(0, 1, max(2, args.n)))
            args.out.write_bytes(to_gif(sampler.generate(zs)))
            print(f"wrote {args.out}: {max(2, args.n)} steps from seed #{args.a} to #{args.b}")
        else:
            zs = near_seed(book.get(args.seed_id).tensor(), args.n, args.sigma, rng)
            Image.fromarray(make_grid(sampler.generate(zs))).save(args.out)
            print(f"wrote {args.out}: {args.n} neighbours of seed #{args.seed_id} "
                  f"(sigma {args.sigma})")
        return 0

    if args.command == "sheet":
        z = plain_latents(args.n, sampler.z_dim, rng)
        pictures = sampler.generate(z)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        numbered_sheet(pictures, nrow=16).save(args.out)
        side = args.out.with_suffix(".json")
        atomic_write_text(side, json.dumps({"z_dim": sampler.z_dim, "seed": args.seed,
                                            "weights": str(args.weights),
                                            "z": [[round(v, 6) for v in row]
                                                  for row in z.tolist()]}) + "\n")
        print(f"wrote {args.out} ({args.n} numbered candidates) and their latents to {side}")
        return 0

    if args.sigma < 0:
        raise UserError(f"--sigma must be at least 0, got {args.sigma}")
    seeds_path = args.seeds or args.weights / SEEDS_FILE
    z, ids = latents(sampler, args.n, rng, args.near_seeds, args.sigma, seeds_path,
                     args.preserve_norm)
    pictures = sampler.generate(z)
    if args.command == "grid":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        sheet_img = Image.fromarray(make_grid(pictures))
        if args.scale > 1:
            sheet_img = sheet_img.resize((sheet_img.width * args.scale,
                                          sheet_img.height * args.scale), Image.Resampling.NEAREST)
        sheet_img.save(args.out)
        print(f"wrote {args.out} ({args.n} pictures)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for i, (picture, seed_id) in enumerate(zip(pictures, ids, strict=True)):
        name = f"{i:04d}.png" if seed_id is None else f"{i:04d}_seed{seed_id}.png"
        to_pil(picture, args.scale).save(args.out / name)
    print(f"wrote {args.n} PNGs to {args.out}")
    return 0


if __name__ == "__main__":
    run_cli(main)

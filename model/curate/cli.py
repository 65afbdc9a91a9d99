"""Draw pictures from a weights folder, without a browser.

    python -m model.sample images weights --n 16 --out out/            # 16 PNGs
    python -m model.sample images weights --n 16 --out out/ --near-seeds --sigma 0.5
    python -m model.sample grid weights --out grid.png                  # one 8x8 sheet
    python -m model.sample sheet weights --n 256 --out sheet.png        # numbered candidates
    python -m model.sample sheet weights --n 1024 --out s.png --kinds emoji-people  # per kind
    python -m model.sample keep sheet.json 3 17 42 --seeds weights/seeds.json      # save them
    python -m model.sample label weights --data emoji-people  # label the unlabelled seeds
    python -m model.sample interpolate weights 3 7 --out 3-7.gif        # slerp between seeds
    python -m model.sample neighbours weights 3 --out n3.png            # as the bot draws #3
    python -m model.sample audit weights --out audit/ --n 6   # every seed by its replies
    python -m model.sample classes weights --out classes/ --data emoji-styles  # per class

``--near-seeds`` draws through the bot's own code (model.serve.reply.serve: a seed, sigma noise,
the discriminator's best of k). ``sheet`` writes the candidates' latents beside the PNG
(sheet.json) so that the numbers a curator picks can be turned into good seeds with ``keep``.
With ``--kinds DATA`` each candidate is labelled from its nearest training picture (for
emoji-people its kind, subgroup and tone: "cook", person-role, medium-dark; for a folder its
sub-folder) and one sheet per kind is written, candidates the discriminator ranks best first:
seeds that cover the data. ``keep`` copies those labels into the seeds it keeps, and ``label``
labels the seeds of a seeds file that have none from their own pictures. ``audit`` judges
every seed by n replies drawn near it as the bot draws them (model.curate.audit): boards worst
first. ``classes`` (a generator conditioned on kind) draws each kind in each of its tones and
styles, keeps the guard's best latents and judges each by its replies (model.curate.classes):
boards and sheet files for ``keep``, the labels the classes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from PIL import Image

from model.curate.audit import audit_seeds, write_audit
from model.curate.classes import write_classes
from model.curate.labels import drawn_labels, label_seeds
from model.curate.sheets import keep_candidates, numbered_sheet, served
from model.errors import UserError
from model.files import atomic_write_text
from model.serve.guard import load_guard
from model.serve.latents import near_seed, plain_latents
from model.serve.pictures import make_grid, to_gif, to_pil
from model.serve.reply import ServeOptions, morph_frames
from model.serve.sampler import Sampler
from model.serve.seeds import SEEDS_FILE, load_seeds


def build_parser() -> argparse.ArgumentParser:
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
        p.add_argument("--best-of", type=int, default=8,
                       help="with --near-seeds: candidates per picture, the discriminator's "
                            "favourite kept (when the weights ship one), as the bot does")
        p.add_argument("--seeds", type=Path, default=None,
                       help=f"good seeds (default WEIGHTS/{SEEDS_FILE})")
        p.add_argument("--scale", type=int, default=1, help="upscale factor (nearest)")
    sheet = sub.add_parser("sheet", help="numbered candidates, latents saved beside")
    common(sheet, 256)
    sheet.add_argument("--kinds", metavar="DATA", default=None,
                       help="label candidates by their nearest picture in DATA (a folder or "
                            "emoji-people) and write one sheet per kind, best-ranked first")
    keep = sub.add_parser("keep", help="save candidates of a sheet as good seeds")
    keep.add_argument("sheet_json", type=Path, help="the sheet.json beside a sheet")
    keep.add_argument("numbers", type=int, nargs="+", help="candidate numbers on the sheet")
    keep.add_argument("--seeds", type=Path, required=True, help="the seeds file to add to")
    keep.add_argument("--note", default="", help="a note for each (default: its kind)")
    label = sub.add_parser("label", help="label the seeds that have no label by the nearest "
                                         "training picture to each seed's own picture")
    label.add_argument("weights", type=Path, help="a weights folder (weights/ or a run)")
    label.add_argument("--data", default=None,
                       help="the training data: emoji-people or a folder (default: the card's)")
    label.add_argument("--seeds", type=Path, default=None,
                       help=f"the seeds file (default WEIGHTS/{SEEDS_FILE})")
    label.add_argument("--device", default="auto")
    interp = sub.add_parser("interpolate", help="a slerp GIF between two good seeds")
    common(interp, 16)
    interp.add_argument("a", type=int, help="seed id")
    interp.add_argument("b", type=int, help="seed id")
    neigh = sub.add_parser("neighbours", help="a sheet of sigma-noise neighbours of a seed")
    common(neigh, 16)
    neigh.add_argument("seed_id", type=int)
    neigh.add_argument("--sigma", type=float, default=0.5)
    audit = sub.add_parser("audit", help="every good seed judged by N replies drawn near it "
                                         "as the bot draws them: boards, worst first")
    common(audit, 6)
    audit.add_argument("--best-of", type=int, default=8,
                       help="candidates per reply, the guard's favourite kept, as the bot does")
    audit.add_argument("--per-board", type=int, default=5, help="seeds per board")
    classes = sub.add_parser("classes", help="a conditional generator's candidates class by "
                                             "class: a board and a sheet file per kind")
    common(classes, 6)
    classes.add_argument("--kinds", nargs="+", default=None, help="these kinds (default all)")
    classes.add_argument("--per", type=int, default=16, help="latents drawn per class")
    classes.add_argument("--keep", type=int, default=1, help="the guard's best kept per class")
    classes.add_argument("--best-of", type=int, default=8,
                         help="candidates per reply, the guard's favourite kept, as the bot does")
    classes.add_argument("--data", default=None, help="the training data: each candidate's "
                         "replies are checked against their nearest training pictures' kinds")
    for p in (interp, neigh, audit):
        p.add_argument("--seeds", type=Path, default=None,
                       help=f"good seeds (default WEIGHTS/{SEEDS_FILE})")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "keep":
        return keep_candidates(args.sheet_json, args.numbers, args.seeds, args.note)
    if args.command == "label":
        return label_seeds(args.weights, args.data, args.seeds or args.weights / SEEDS_FILE,
                           args.device)
    if args.n < 1:
        raise UserError(f"--n must be at least 1, got {args.n}")
    sampler = Sampler.load(args.weights, args.device)
    rng = torch.Generator().manual_seed(args.seed)
    if args.command in ("interpolate", "neighbours"):
        return seed_pictures(args, sampler, rng)
    if args.command == "sheet":
        return write_sheet(args, sampler, rng)
    if args.command == "audit":
        return write_seed_audit(args, sampler)
    if args.command == "classes":
        return write_classes(args.weights, sampler, args.out, args.kinds, args.per, args.keep,
                             args.n, args.best_of, args.data, str(args.seed))
    return write_pictures(args, sampler, rng)


def seed_pictures(args: argparse.Namespace, sampler: Sampler, rng: torch.Generator) -> int:
    """interpolate (a slerp GIF between two good seeds) and neighbours (a sheet near one)."""
    seeds_path = args.seeds or args.weights / SEEDS_FILE
    book = load_seeds(seeds_path, sampler.z_dim)
    wanted = [args.a, args.b] if args.command == "interpolate" else [args.seed_id]
    missing = [i for i in wanted if book.get(i) is None]
    if missing:
        known = ", ".join(str(s.id) for s in book.seeds) or "none"
        raise UserError(f"no seed {', '.join(f'#{i}' for i in missing)} in {seeds_path} "
                        f"(known: {known})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Each seed in its own classes (Seed.latent), as the bot draws it: a conditional
    # generator given none would draw classes hashed from every latent, a kind per picture.
    if args.command == "interpolate":
        frames = morph_frames(sampler, book.get(args.a).latent(), book.get(args.b).latent(),
                              max(2, args.n))
        args.out.write_bytes(to_gif(frames))
        print(f"wrote {args.out}: {max(2, args.n)} steps from seed #{args.a} to #{args.b}")
    else:
        at = book.get(args.seed_id).latent()
        zs = near_seed(at.tensor(), args.n, args.sigma, rng)
        classes = at.indices(sampler.cond)  # (1, k), or None: unconditional
        pictures = sampler.generate(zs, classes=None if classes is None
                                    else classes.expand(args.n, -1))
        Image.fromarray(make_grid(pictures)).save(args.out)
        print(f"wrote {args.out}: {args.n} neighbours of seed #{args.seed_id} "
              f"(sigma {args.sigma})")
    return 0


def write_seed_audit(args: argparse.Namespace, sampler: Sampler) -> int:
    """audit: n replies per seed through the bot's serve, boards and audit.json in --out."""
    seeds_path = args.seeds or args.weights / SEEDS_FILE
    book = load_seeds(seeds_path, sampler.z_dim)
    if not book.seeds:
        raise UserError(f"{seeds_path} holds no seeds to audit; keep some first "
                        "(python -m model.sample sheet, then keep)")
    if args.best_of < 1 or args.per_board < 1:
        raise UserError(f"--best-of and --per-board must be at least 1, got {args.best_of} "
                        f"and {args.per_board}")
    guard = load_guard(args.weights, sampler.device)
    rows = audit_seeds(sampler, book, guard, args.n, ServeOptions(best_of=args.best_of),
                       args.seed)
    boards = write_audit(args.out, rows, args.per_board)
    order = "worst first by the guard's mean logit" if guard else "no guard: in file order"
    print(f"wrote {len(boards)} boards of {len(rows)} seeds x {args.n} replies ({order}) "
          f"and audit.json into {args.out}")
    return 0


def write_sheet(args: argparse.Namespace, sampler: Sampler, rng: torch.Generator) -> int:
    """Numbered candidates and their latents (sheet.json); with --kinds their labels and one
    sheet per kind, best-ranked first."""
    z = plain_latents(args.n, sampler.z_dim, rng)
    pictures = sampler.generate(z)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    numbered_sheet(pictures, nrow=16).save(args.out)
    side = args.out.with_suffix(".json")
    record: dict[str, object] = {
        "z_dim": sampler.z_dim, "seed": args.seed, "weights": str(args.weights),
        "z": [[round(v, 6) for v in row] for row in z.tolist()]}
    if args.kinds:
        guard = load_guard(args.weights, sampler.device)
        scores = (guard.scores(pictures) if guard is not None
                  else torch.zeros(len(pictures))).tolist()
        labels = drawn_labels(sampler, z, pictures, args.kinds)
        kinds = [label.kind or "all" for label in labels]
        record.update(kinds=kinds, labels=[label.to_dict() for label in labels],
                      scores=[round(v, 4) for v in scores])
        for kind in sorted(set(kinds)):
            mine = sorted((i for i, k in enumerate(kinds) if k == kind),
                          key=lambda i: -scores[i])
            slug = kind.replace("/", "_").replace(" ", "-")
            path = args.out.with_name(f"{args.out.stem}-{slug}.png")
            numbered_sheet(pictures[mine], nrow=16, numbers=mine).save(path)
            print(f"wrote {path}: {len(mine)} candidates of kind {kind}")
    atomic_write_text(side, json.dumps(record) + "\n")
    print(f"wrote {args.out} ({args.n} numbered candidates) and their latents to {side}")
    return 0


def write_pictures(args: argparse.Namespace, sampler: Sampler, rng: torch.Generator) -> int:
    """images (N PNGs) and grid (one sheet): plain draws, or as the bot serves them."""
    if args.sigma < 0:
        raise UserError(f"--sigma must be at least 0, got {args.sigma}")
    seeds_path = args.seeds or args.weights / SEEDS_FILE
    if args.near_seeds:
        pictures, ids = served(sampler, args.weights, args.n, args.seed,
                               ServeOptions(args.sigma, args.preserve_norm, args.best_of),
                               seeds_path)
    else:
        pictures, ids = sampler.generate(plain_latents(args.n, sampler.z_dim, rng)), \
            [None] * args.n
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

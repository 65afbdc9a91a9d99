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

``--near-seeds`` draws through the bot's own code (model.sampler.serve: a seed, sigma noise,
the discriminator's best of k). ``sheet`` writes the candidates' latents beside the PNG
(sheet.json) so that the numbers a curator picks can be turned into good seeds with ``keep``.
With ``--kinds DATA`` each candidate is labelled from its nearest training picture (for
emoji-people its kind, subgroup and tone: "cook", person-role, medium-dark; for a folder its
sub-folder) and one sheet per kind is written, candidates the discriminator ranks best first:
seeds that cover the data. ``keep`` copies those labels into the seeds it keeps, and ``label``
labels the seeds of a seeds file that have none from their own pictures. ``audit`` judges
every seed by n replies drawn near it as the bot draws them (model.audit): boards worst first.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from model.audit import audit_seeds, write_audit
from model.checkpoint import atomic_write_text
from model.errors import UserError, run_cli
from model.sampler import (
    SEEDS_FILE,
    Label,
    Sampler,
    Seed,
    ServeOptions,
    load_guard,
    load_seeds,
    make_grid,
    near_seed,
    plain_latents,
    save_seeds,
    serve,
    slerp,
    to_gif,
    to_pil,
)


def served(sampler: Sampler, weights: Path, n: int, seed: int, options: ServeOptions,
           seeds_path: Path) -> tuple[torch.Tensor, list[int | None]]:
    """n pictures exactly as the bot draws them, and the seed id each is near."""
    book = load_seeds(seeds_path, sampler.z_dim)
    if not book.seeds:
        raise UserError(f"--near-seeds needs good seeds, and {seeds_path} has none; curate "
                        "some with python -m model.sample sheet or python -m model.explore")
    guard = load_guard(weights, sampler.device) if options.best_of > 1 else None
    pictures = [serve(sampler, book, f"sample-{seed}-{i}", options, guard) for i in range(n)]
    return torch.stack([p.image for p in pictures]), [p.seed_id for p in pictures]


def labels_of(pictures: torch.Tensor, data: str, cache_dir: Path | None = None
              ) -> list[Label]:
    """The label of each picture: that of its nearest training picture (pixel L2 at the
    pictures' size), its file name the source ("nearest 0123_person-role_1F469-....png").

    For emoji-people the file name says the emoji: its kind, subgroup and tone (model/kinds).
    For a folder of images the kind is the picture's sub-folder ("" at the top), with no
    subgroup or tone. Pixels, not model.features' random-net features: on 32 pictures of the
    shipped weights the two labels differed on 18 (on the kind 11), and by eye each picked the
    better neighbour 4 times (the rest alike or both wrong), so the cheaper pixels stay."""
    from model.data import BUILTIN, default_cache_dir, list_images, load_dataset
    from model.kinds import load_kinds

    ds = load_dataset(data, pictures.shape[-1], cache_dir)
    root = (cache_dir or default_cache_dir()) / BUILTIN if data == BUILTIN else Path(data)
    names = list(ds.names) if ds.names is not None else [
        p.relative_to(root).as_posix() for p in list_images(root)]
    if len(names) != len(ds):
        raise UserError(f"{data} changed while it was read; run again")
    kinds = load_kinds()
    ref = ds.images.reshape(len(ds), -1).float()  # (N, D)
    out = []
    for chunk in pictures.reshape(len(pictures), -1).float().split(256):  # (c, D)
        for i in torch.cdist(chunk, ref).argmin(dim=1).tolist():
            source = f"nearest {names[i]}"
            emoji = kinds.label_of_file(names[i]) if data == BUILTIN else None
            folder = names[i].rpartition("/")[0]
            out.append(replace(emoji, source=source) if emoji is not None
                       else Label(folder, "", "", source))
    return out


def kinds_of(pictures: torch.Tensor, data: str, cache_dir: Path | None = None) -> list[str]:
    """The kind of each picture (labels_of), "all" for one nearest a top-level file."""
    return [label.kind or "all" for label in labels_of(pictures, data, cache_dir)]


def describe(label: Label) -> str:
    """One label in a line: 'cook (person-role), medium-dark, nearest 0123_....png'."""
    return (f"{label.kind or '-'} ({label.subgroup or 'no subgroup'}), "
            f"{label.tone or 'default tone'}, {label.source}")


def numbered_sheet(images: torch.Tensor, nrow: int, scale: int = 2,
                   numbers: list[int] | None = None) -> Image.Image:
    """uint8 (B, C, H, W) -> a grid with each cell's number printed under it: its place (from
    0), or the given numbers (their places in sheet.json, for a sheet of some of them)."""
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
        draw.text((x * cell_w + 4, y * cell_h + h * scale + 3),
                  str(numbers[i] if numbers is not None else i), fill=(0, 0, 0))
    return sheet


def keep_candidates(sheet_json: Path, numbers: list[int], seeds_path: Path, note: str) -> int:
    """Append the numbered candidates of a sheet to a seeds file (atomic, .bak kept)."""
    try:
        record = json.loads(sheet_json.read_text(encoding="utf-8"))
        zs, z_dim = record["z"], int(record["z_dim"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{sheet_json} is not a sheet's latents file ({exc}); give the .json "
                        "that python -m model.sample sheet wrote beside its PNG") from None
    bad = [n for n in numbers if not 0 <= n < len(zs)]
    if bad:
        raise UserError(f"no candidate {', '.join(map(str, bad))} on {sheet_json} (it has "
                        f"0 to {len(zs) - 1})")
    book = load_seeds(seeds_path, z_dim)
    kinds = record.get("kinds") or [""] * len(zs)
    labels = _sheet_labels(record, sheet_json, len(zs))
    known = {tuple(s.z) for s in book.seeds}
    added = []
    for n in dict.fromkeys(numbers):  # in order, once each
        if tuple(zs[n]) in known:
            continue
        seed = Seed(book.next_id(), [float(v) for v in zs[n]], note or kinds[n], labels[n])
        book.seeds.append(seed)
        added.append(seed.id)
    save_seeds(seeds_path, book)
    print(f"added {len(added)} seeds to {seeds_path} (ids {', '.join(map(str, added)) or '-'});"
          f" it holds {len(book.seeds)}")
    return 0


def _sheet_labels(record: dict[str, Any], sheet_json: Path, n: int) -> list[Label | None]:
    """The candidates' labels a sheet made with --kinds recorded; None each for older
    sheets (their "kinds" were subgroups, not kinds: no label is made up from them)."""
    if record.get("labels") is None:
        return [None] * n
    try:
        labels = [Label.from_dict(d) for d in record["labels"]]
    except (ValueError, TypeError) as exc:
        raise UserError(f"{sheet_json} has a bad label ({exc}); make the sheet again") from None
    if len(labels) != n:
        raise UserError(f"{sheet_json} has {len(labels)} labels for {n} candidates; make the "
                        "sheet again")
    return labels


def label_seeds(weights: Path, data: str | None, seeds_path: Path, device: str) -> int:
    """Label the seeds that have no label by the nearest training picture to the picture of
    the seed itself (the generator at its z, no noise); labelled seeds are left as they are."""
    sampler = Sampler.load(weights, device)
    book = load_seeds(seeds_path, sampler.z_dim)
    todo = [s for s in book.seeds if s.label is None]
    if not todo:
        print(f"all {len(book.seeds)} seeds in {seeds_path} are labelled; nothing to do")
        return 0
    data = data or (sampler.card.get("data") or {}).get("source")
    if not data:
        raise UserError(f"the card of {weights} does not say what it was trained on; give "
                        "--data (emoji-people or the folder)")
    pictures = sampler.generate(torch.stack([s.tensor() for s in todo]))
    for seed, label in zip(todo, labels_of(pictures, data), strict=True):
        seed.label = label
        print(f"seed #{seed.id}: {describe(label)}")
    save_seeds(seeds_path, book)
    print(f"labelled {len(todo)} seeds in {seeds_path} (previous file kept as "
          f"{seeds_path.name}.bak); {len(book.seeds) - len(todo)} already had a label")
    return 0


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
        labels = labels_of(pictures, args.kinds)
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


if __name__ == "__main__":
    run_cli(main)

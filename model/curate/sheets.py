"""Numbered sheets of candidates and keeping the numbers a curator picks as good seeds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from model.data.kinds import Label
from model.errors import UserError
from model.serve.guard import load_guard
from model.serve.pictures import to_pil
from model.serve.reply import ServeOptions, serve
from model.serve.sampler import Sampler
from model.serve.seeds import Seed, load_seeds, save_seeds


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

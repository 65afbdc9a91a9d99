"""Judge good seeds by their neighbourhoods, the way people meet them.

Every reply is a neighbour of its seed (sigma noise, the guard's best of k), so a seed is as
good as the replies drawn near it, not as its own picture: one that looked clean on a sheet can
break in a third of its replies. ``audit_seeds`` draws n replies per seed exactly as the bot does
(model.serve.reply.serve with the seed fixed, request ids derived from a salt, so an audit can be
drawn again) and ranks the seeds by the guard's mean logit over them, worst first; the boards put
each seed's replies in one row at the size people see, for a curator to drop the ones that
break (`python -m model.sample audit`, README "Curate good seeds"). The guard's order is a
guide, not a verdict: look at the rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from model.data.kinds import Label
from model.files import atomic_write_text
from model.serve.guard import Guard
from model.serve.pictures import to_pil
from model.serve.reply import ServeOptions, serve
from model.serve.sampler import Sampler
from model.serve.seeds import SeedBook


@dataclass(frozen=True)
class SeedAudit:
    seed_id: int
    label: Label | None
    mean: float | None  # the guard's mean logit over the replies (None: no guard)
    low: float | None  # its lowest
    request_ids: tuple[str, ...]  # the replies' ids: serve(..., seed_id) draws them again
    images: torch.Tensor  # (n, C, S, S) uint8, the replies as sent (before upscaling)


def audit_seeds(sampler: Sampler, book: SeedBook, guard: Guard | None, n: int,
                options: ServeOptions, salt: int = 0) -> list[SeedAudit]:
    """n replies near each seed of book, the seeds worst first by the guard's mean logit (in
    file order without a guard)."""
    rows = []
    for seed in book.seeds:
        ids = tuple(f"audit-{salt}-{seed.id}-{i}" for i in range(n))
        served = [serve(sampler, book, rid, options, guard, seed.id) for rid in ids]
        scores = [s.score for s in served if s.score is not None]
        mean = sum(scores) / len(scores) if scores else None
        rows.append(SeedAudit(seed.id, seed.label, mean, min(scores) if scores else None, ids,
                              torch.stack([s.image for s in served])))
    if guard is not None:
        rows.sort(key=lambda r: r.mean if r.mean is not None else 0.0)
    return rows


def board(rows: list[SeedAudit], cell: int = 192) -> Image.Image:
    """One row per seed: its id, label and scores, then its replies at cell px (Lanczos)."""
    text_w = 150
    n = max(len(r.images) for r in rows)
    out = Image.new("RGB", (text_w + n * (cell + 2), len(rows) * (cell + 4)), "white")
    draw = ImageDraw.Draw(out)
    for y, r in enumerate(rows):
        top = y * (cell + 4)
        kind = f"{r.label.kind} {r.label.tone}".strip() if r.label else "unlabelled"
        scores = f"mean {r.mean:.2f}\nlow {r.low:.2f}" if r.mean is not None else "no guard"
        draw.text((4, top + cell // 3), f"#{r.seed_id}\n{kind}\n{scores}", fill=(0, 0, 0))
        for x, image in enumerate(r.images):
            pil = to_pil(image).resize((cell, cell), Image.Resampling.LANCZOS)
            out.paste(pil, (text_w + x * (cell + 2), top))
    return out


def write_audit(out: Path, rows: list[SeedAudit], per_board: int = 5, cell: int = 192
                ) -> list[Path]:
    """Boards out/audit-NN.png of per_board seeds each, worst first, and out/audit.json."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for b in range(0, len(rows), per_board):
        path = out / f"audit-{b // per_board:02d}.png"
        board(rows[b:b + per_board], cell).save(path)
        paths.append(path)
    record = [{"seed": r.seed_id, "label": r.label.to_dict() if r.label else None,
               "mean_logit": r.mean, "lowest_logit": r.low, "request_ids": list(r.request_ids)}
              for r in rows]
    atomic_write_text(out / "audit.json", json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return paths

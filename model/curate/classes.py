"""Seeds for a class-conditional generator, class by class: for each kind, every tone and
style it is conditioned on, a few latents drawn in that class, the guard's best kept, and each
kept one judged by the replies drawn near it as the bot draws them.

A conditional generator draws any latent in any class, so a curator of one does not hunt for
the kinds the generator happens to draw (``sheet --kinds``) but asks each class for its best:
``python -m model.sample classes weights --data emoji-styles --out classes/`` writes a board
per kind (a row per tone and style: the candidate, then its replies) and a sheet file per kind
that ``keep`` turns into seeds, each labelled with its classes. Each candidate also gets the
share of its replies whose nearest training picture (pixels) is of its kind: "recognisable"
as a stranger would say it, measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from model.data.kinds import Label, load_kinds
from model.evaluate.grain import grain
from model.files import atomic_write_text
from model.serve.guard import Guard
from model.serve.latents import Latent, request_rng
from model.serve.pictures import to_pil
from model.serve.reply import ServeOptions, serve_near
from model.serve.sampler import Sampler


@dataclass(frozen=True)
class Candidate:
    label: Label  # the classes it is drawn in (source "class kind,tone,style")
    z: tuple[float, ...]
    score: float | None  # the guard's logit of its own picture
    low: float | None  # the guard's lowest logit over its replies
    agree: float | None  # share of its replies whose nearest training picture is its kind
    grain: float  # its grainiest reply's model.evaluate.grain (emoji-styles at 64 px: 1.4 median)
    image: torch.Tensor  # (C, S, S) uint8: its own picture
    replies: torch.Tensor  # (n, C, S, S) uint8: as the bot draws them near it


def class_labels(sampler: Sampler, kind: str) -> list[Label]:
    """Every (tone, style) class of a kind the generator can draw: one Label each."""
    cond = sampler.cond
    info = load_kinds().get(kind)
    tones = cond.get("tone", ("",))
    styles = cond.get("style", ("",))
    source = "class " + ",".join(n for n in ("kind", "tone", "style") if n in cond)
    return [Label(kind, info.subgroup if info else "", tone, source, style)
            for tone, style in product(tones, styles)]


def candidates_of(sampler: Sampler, guard: Guard | None, label: Label, per: int, keep: int,
                  n: int, options: ServeOptions, salt: str) -> list[Candidate]:
    """per latents drawn in label's classes, the keep the guard ranks best (the first keep
    without a guard), each with n replies near it; deterministic given salt."""
    rng = request_rng(f"classes-{salt}-{label.kind}-{label.tone}-{label.style}")
    z = torch.randn(per, sampler.z_dim, generator=rng)
    at = Latent.of(z[0], label)
    classes = at.indices(sampler.cond).expand(per, -1)
    images = sampler.generate(z, classes=classes)
    scores = guard.scores(images).tolist() if guard is not None else [None] * per
    order = sorted(range(per), key=lambda i: -(scores[i] or 0.0))[:keep]
    out = []
    for i in order:
        served = serve_near(sampler, at.at(z[i]), f"classes-{salt}-{i}-{label.kind}-"
                            f"{label.tone}-{label.style}", n, options, guard)
        replies = torch.stack([s.image for s in served])
        lows = [s.score for s in served if s.score is not None]
        out.append(Candidate(label, tuple(z[i].tolist()), scores[i], min(lows) if lows else None,
                             None, float(grain(replies).max()), images[i], replies))
    return out


def with_agreement(cands: list[Candidate], data: str, cache_dir: Path | None) -> list[Candidate]:
    """Each candidate with the share of its replies whose nearest training picture (pixels,
    model.curate.labels.labels_of) is of its kind."""
    from dataclasses import replace

    from model.curate.labels import labels_of

    if not cands:
        return cands
    replies = torch.cat([c.replies for c in cands])
    nearest = labels_of(replies, data, cache_dir)
    out, at = [], 0
    for c in cands:
        kinds = [lab.kind for lab in nearest[at:at + len(c.replies)]]
        at += len(c.replies)
        out.append(replace(c, agree=sum(k == c.label.kind for k in kinds) / len(kinds)))
    return out


def board(cands: list[Candidate], cell: int = 128) -> Image.Image:
    """A row per candidate: its number, classes and scores, its picture, then its replies."""
    text_w = 170
    cols = 1 + max((len(c.replies) for c in cands), default=0)
    img = Image.new("RGB", (text_w + cols * cell, max(1, len(cands)) * cell), "white")
    draw = ImageDraw.Draw(img)
    for row, c in enumerate(cands):
        y = row * cell
        lines = [f"#{row} {c.label.kind}", c.label.tone or "yellow", c.label.style or "-",
                 f"own {c.score:+.2f}" if c.score is not None else "",
                 f"low {c.low:+.2f}" if c.low is not None else "",
                 f"kind {c.agree:.0%}" if c.agree is not None else "",
                 f"grain {c.grain:.1f}"]
        draw.multiline_text((4, y + 4), "\n".join(x for x in lines if x), fill="black")
        for col, pic in enumerate([c.image, *c.replies]):
            tile = to_pil(pic).resize((cell, cell), Image.Resampling.LANCZOS)
            img.paste(tile, (text_w + col * cell, y))
    return img


def write_kind(out: Path, kind: str, cands: list[Candidate], z_dim: int) -> Path:
    """The kind's board (PNG) and its sheet file (JSON, for ``keep``): returns the JSON."""
    slug = kind.replace(" ", "-")
    board(cands).save(out / f"classes-{slug}.png", optimize=True)
    record = {"z_dim": z_dim, "z": [list(c.z) for c in cands],
              "labels": [c.label.to_dict() for c in cands],
              "kinds": [c.label.kind for c in cands],
              "scores": [c.score for c in cands], "low": [c.low for c in cands],
              "agree": [c.agree for c in cands], "grain": [c.grain for c in cands]}
    path = out / f"classes-{slug}.json"
    atomic_write_text(path, json.dumps(record) + "\n")
    return path


def write_classes(weights: Path, sampler: Sampler, out: Path, kinds: list[str] | None,
                  per: int, keep: int, n: int, best_of: int, data: str | None,
                  salt: str) -> int:
    """classes: a board and a sheet file per kind in out (model.sample classes)."""
    from model.errors import UserError
    from model.serve.guard import load_guard

    if "kind" not in sampler.cond:
        raise UserError(f"{weights} is not conditioned on kind; use sheet --kinds DATA to find "
                        "seeds of an unconditional generator")
    known = sampler.cond["kind"]
    kinds = kinds or list(known)
    unknown = [k for k in kinds if k not in known]
    if unknown:
        raise UserError(f"{weights} cannot draw kind {unknown[0]!r}; choose from "
                        f"{', '.join(known)}")
    if min(per, keep, n, best_of) < 1 or keep > per:
        raise UserError(f"--per, --keep, --n and --best-of must be at least 1 and --keep at "
                        f"most --per, got {per}, {keep}, {n}, {best_of}")
    guard = load_guard(weights, sampler.device)
    options = ServeOptions(best_of=best_of)
    out.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        cands = [c for label in class_labels(sampler, kind)
                 for c in candidates_of(sampler, guard, label, per, keep, n, options, salt)]
        if data is not None:
            cands = with_agreement(cands, data, None)
        path = write_kind(out, kind, cands, sampler.z_dim)
        print(f"{kind}: {len(cands)} candidates -> {path.with_suffix('.png')}", flush=True)
    return 0

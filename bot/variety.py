"""How far apart "more like this" is: four variations of a picture against four new replies
near the same good seed, in pixels, drawn by the bot's own Artist.

    python -m bot.variety                                  # shipped weights, every seed
    python -m bot.variety --sigma 0.25 0.5 0.6             # variation noises side by side
    python -m bot.variety --seeds 5 --sigma 0.25 0.6 --sheet docs/pictures3/variations.png

For each good seed: a reply near it (the parent: what "like #N" draws), its four variations
(Artist.draw_near, as "more like this" answers it, in the parent's classes) and four more
replies near the seed (as "again" draws them). Distances are root-mean-square differences of the
pictures people see (the decoded PNGs, 0 to 1 per channel), means over the seeds:

- apart: the mean distance between two of the four (variations; replies near the seed)
- to parent: a variation's distance to its parent
- nearest: the share of variations nearer their own parent than any other seed's parent

The sheet: one row per seed (a spread of kinds), the parent, the four variations at each noise,
and the four replies near the seed.
"""

from __future__ import annotations

import argparse
import io
import itertools
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from bot.drawing.artist import Artist, ArtistOptions, Drawing
from bot.settings import REPO
from model.errors import UserError, run_cli

CELL = 128  # pixels per picture on the sheet


def pixels(drawing: Drawing) -> torch.Tensor:
    """A reply picture as people see it: (3, S, S) float in [0, 1], decoded from its PNG."""
    image = Image.open(io.BytesIO(drawing.data)).convert("RGB")
    return torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).reshape(
        image.height, image.width, 3).permute(2, 0, 1).float() / 255


def distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Root-mean-square pixel difference, 0 (the same) to 1 (black against white)."""
    return float((a - b).pow(2).mean().sqrt())


def apart(pictures: list[torch.Tensor]) -> float:
    """The mean distance between two of them (every pair)."""
    pairs = list(itertools.combinations(pictures, 2))
    return sum(distance(a, b) for a, b in pairs) / len(pairs)


@dataclass
class Family:
    """One seed's pictures: a reply near it, its variations (per noise), replies near it."""

    seed_id: int
    parent: Drawing
    variations: dict[float, list[Drawing]]
    replies: list[Drawing]


def family(artist: Artist, seed_id: int, sigmas: list[float]) -> Family:
    """A seed's pictures as the service draws them (request ids of their own)."""
    parent = artist.draw(f"variety:{seed_id}", seed_id)
    variations = {s: artist.draw_near(f"variety:{seed_id}:more", parent.latent, 4, s, seed_id)
                  for s in sigmas}
    replies = [artist.draw(f"variety:{seed_id}:again{i}", seed_id) for i in range(4)]
    return Family(seed_id, parent, variations, replies)


def measure(families: list[Family], sigmas: list[float]) -> dict[str, float]:
    """The figures of the module's docstring, over these seeds' families."""
    parents = {f.seed_id: pixels(f.parent) for f in families}
    out = {"replies_apart": sum(apart([pixels(d) for d in f.replies]) for f in families)
           / len(families)}
    for s in sigmas:
        spread, near, nearest = [], [], []
        for f in families:
            mine = [pixels(d) for d in f.variations[s]]
            spread.append(apart(mine))
            for v in mine:
                own = distance(v, parents[f.seed_id])
                near.append(own)
                nearest.append(all(own < distance(v, p) for i, p in parents.items()
                                   if i != f.seed_id))
        out[f"variations_apart@{s:g}"] = sum(spread) / len(spread)
        out[f"to_parent@{s:g}"] = sum(near) / len(near)
        out[f"nearest@{s:g}"] = sum(nearest) / len(nearest)
    return out


def sheet(families: list[Family], sigmas: list[float], artist: Artist) -> Image.Image:
    """One row per family: its kind, the parent, the variations at each noise, the replies."""
    head, gap = 28, 12
    columns = ["picture"] + [f"more like this, noise {s:g}" for s in sigmas] + [
        "again: new replies near the seed"]
    width = CELL + (4 * CELL + gap) * (len(sigmas) + 1)
    out = Image.new("RGB", (width, head + len(families) * (CELL + head)), "white")
    draw = ImageDraw.Draw(out)
    x = [0] + [CELL + gap + i * (4 * CELL + gap) for i in range(len(sigmas) + 1)]
    for title, left in zip(columns, x, strict=True):
        draw.text((left + 4, 8), title, fill="black")
    for row, f in enumerate(families):
        top = head + row * (CELL + head)
        label = artist.label(f.seed_id)
        draw.text((4, top + 6), f"seed #{f.seed_id}: {label.kind or 'unlabelled'}"
                  f"{', ' + label.tone if label.tone else ''}", fill="black")
        groups = [[f.parent], *(f.variations[s] for s in sigmas), f.replies]
        for left, group in zip(x, groups, strict=True):
            for i, d in enumerate(group):
                picture = Image.open(io.BytesIO(d.data)).convert("RGB").resize(
                    (CELL, CELL), Image.Resampling.LANCZOS)
                out.paste(picture, (left + i * CELL, top + head - 4))
    return out


def spread_out(ids: list[int], n: int) -> list[int]:
    """n of the ids, evenly through the list (the seeds file groups seeds by kind)."""
    if n >= len(ids):
        return ids
    return [ids[round(i * (len(ids) - 1) / max(1, n - 1))] for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.variety", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=REPO / "weights")
    ap.add_argument("--sigma", type=float, nargs="+", default=None,
                    help="variation noises to measure (default: the artist's)")
    ap.add_argument("--seeds", type=int, default=0,
                    help="measure this many seeds, spread through the file (default: all)")
    ap.add_argument("--sheet", type=Path, default=None, help="also write a sheet (PNG)")
    ap.add_argument("--rows", type=int, default=5, help="seeds on the sheet")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    options = ArtistOptions(device=args.device)
    sigmas = args.sigma or [options.variation_sigma]
    if any(s < 0 for s in sigmas) or args.seeds < 0 or args.rows < 1:
        raise UserError("--sigma and --seeds must be at least 0 and --rows at least 1")
    artist = Artist(args.weights, args.weights / "seeds.json", options)
    ids = [s.id for s in artist.seeds.seeds]
    if len(ids) < 2:
        raise UserError(f"{args.weights / 'seeds.json'} holds {len(ids)} seeds; the figures "
                        "compare seeds with one another: keep at least two")
    families = [family(artist, i, sigmas) for i in spread_out(ids, args.seeds or len(ids))]
    figures = measure(families, sigmas)
    print(f"{len(families)} seeds of {args.weights}, RMS pixel distance (0 to 1):")
    print(f"  4 replies near the same seed: {figures['replies_apart']:.3f} apart")
    for s in sigmas:
        print(f"  4 variations at noise {s:g}: {figures[f'variations_apart@{s:g}']:.3f} apart, "
              f"{figures[f'to_parent@{s:g}']:.3f} from their picture, nearer it than any "
              f"other seed's: {figures[f'nearest@{s:g}']:.0%}")
    if args.sheet is not None:
        rows = [families[i] for i in spread_out(list(range(len(families))), args.rows)]
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        sheet(rows, sigmas, artist).save(args.sheet, optimize=True)
        print(f"wrote {args.sheet}")
    return 0


if __name__ == "__main__":
    run_cli(main)

"""Good seeds: the curated latents replies are drawn near, their labels, the seeds file
(``seeds.json``: read leniently, written atomically with one backup) and the pick for a
request (by kind and skin tone).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from model.data.kinds import TONES, Label
from model.errors import UserError
from model.files import atomic_write_text
from model.serve.latents import Latent

SEEDS_FILE = "seeds.json"

SEEDS_VERSION = 1


@dataclass
class Seed:
    id: int
    z: list[float]
    note: str = ""
    label: Label | None = None  # None: not labelled (seeds files from before labels)

    def tensor(self) -> torch.Tensor:
        return torch.tensor(self.z, dtype=torch.float32)

    def latent(self) -> Latent:
        """Its latent in the classes its label names: every draw from a seed starts here."""
        return Latent.of(self.z, self.label)


@dataclass
class SeedBook:
    z_dim: int
    seeds: list[Seed] = field(default_factory=list)

    def get(self, seed_id: int) -> Seed | None:
        return next((s for s in self.seeds if s.id == seed_id), None)

    def kinds(self) -> dict[str, int]:
        """kind -> how many labelled seeds draw it, most first (then by name): what the bot
        can be asked for, and the closest it can offer when a kind has no seed."""
        counts: dict[str, int] = {}
        for s in self.seeds:
            if s.label is not None and s.label.kind:
                counts[s.label.kind] = counts.get(s.label.kind, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def next_id(self) -> int:
        return max((s.id for s in self.seeds), default=0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {"version": SEEDS_VERSION, "z_dim": self.z_dim,
                "seeds": [_seed_dict(s) for s in self.seeds]}


def _seed_dict(seed: Seed) -> dict[str, Any]:
    out: dict[str, Any] = {"id": seed.id, "z": [round(v, 6) for v in seed.z], "note": seed.note}
    if seed.label is not None:
        out["label"] = seed.label.to_dict()
    return out


def load_seeds(path: Path | str, z_dim: int) -> SeedBook:
    """Read seeds.json; a missing file is an empty book; another z_dim is a UserError."""
    path = Path(path)
    if not path.is_file():
        return SeedBook(z_dim)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != SEEDS_VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {SEEDS_VERSION}")
        seeds = [Seed(int(s["id"]), [float(v) for v in s["z"]], str(s.get("note", "")),
                      None if s.get("label") is None else Label.from_dict(s["label"]))
                 for s in data["seeds"]]
        file_dim = int(data["z_dim"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"seeds file {path} is malformed ({exc}); fix it{_restore(path)}"
                        ) from None
    if file_dim != z_dim:
        raise UserError(f"seeds file {path} is for z_dim {file_dim} but the generator has "
                        f"z_dim {z_dim}; curate seeds for these weights or point at their file")
    wrong = next((s for s in seeds if len(s.z) != z_dim), None)
    if wrong is not None:
        raise UserError(f"seed #{wrong.id} in {path} has {len(wrong.z)} numbers but the "
                        f"generator has z_dim {z_dim}; fix or remove that seed{_restore(path)}")
    # NaN or inf (JSON's NaN parses): every picture drawn near it would come out black
    broken = next((s for s in seeds if not all(math.isfinite(v) for v in s.z)), None)
    if broken is not None:
        raise UserError(f"seed #{broken.id} in {path} has a number that is not finite "
                        f"({next(v for v in broken.z if not math.isfinite(v))}); fix or remove "
                        f"that seed{_restore(path)}")
    if len({s.id for s in seeds}) != len(seeds):
        raise UserError(f"seeds file {path} has duplicate ids; give each seed its own id")
    return SeedBook(z_dim, seeds)


def _restore(path: Path) -> str:
    """The way back a broken seeds file has: the backup save_seeds keeps, when there is one
    (none for a file that was never saved over)."""
    backup = path.with_name(path.name + ".bak")
    return f", or restore its backup {backup}" if backup.is_file() else ""


def save_seeds(path: Path | str, book: SeedBook) -> None:
    """Atomic write that keeps the previous file as seeds.json.bak."""
    path = Path(path)
    if path.is_file():
        shutil.copy2(path, path.with_name(path.name + ".bak"))
    atomic_write_text(path, json.dumps(book.to_dict(), indent=1) + "\n")


@dataclass(frozen=True)
class Match:
    """What pick_seed honoured of a request: False only for what was asked and could not be
    given (a kind no seed draws, a tone none of them has); what was not asked counts True."""

    kind_found: bool = True
    tone_found: bool = True


def pick_seed(seeds: SeedBook, rng: torch.Generator, kind: str | None = None,
              tone: str | None = None) -> tuple[Seed | None, Match]:
    """The good seed a request is drawn near, and what of its kind and tone was honoured.

    Always one draw of rng among the candidates, so that a request that asks nothing draws
    exactly the seed it drew before kinds existed. Candidates: the seeds of that kind in that
    tone; else of that kind (the tone not found); else, the kind not found, those of that tone;
    else all. None or "" asks for nothing. No seeds at all: None (the plain prior)."""
    if tone and tone not in TONES:
        raise ValueError(f"tone {tone!r} is not one of {', '.join(TONES)}")
    if not seeds.seeds:
        return None, Match(not kind, not tone)
    same_kind = [s for s in seeds.seeds if kind and s.label is not None
                 and s.label.kind.casefold() == kind.casefold()]
    pool = same_kind or seeds.seeds
    toned = [s for s in pool if tone and s.label is not None and s.label.tone == tone]
    match = Match(kind_found=not kind or bool(same_kind), tone_found=not tone or bool(toned))
    candidates = toned or pool
    return candidates[int(torch.randint(len(candidates), (1,), generator=rng))], match

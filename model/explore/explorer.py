"""The explorer's logic, on lists of floats in and PNG/GIF bytes or data URLs out: pictures of
a latent, random candidates, neighbours as the bot draws them, slerp strips and GIFs, the main
directions, and the seeds file (read afresh, written atomically with one backup, under a lock on
its folder so that two browsers or two explorers saving at once lose nothing). The web app over
it is model/explore/app.py; the command, model/explore/__main__.py.
"""

from __future__ import annotations

import base64
import fcntl
import io
import logging
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from model.data.kinds import TONES, Label
from model.explore.directions import factorize
from model.explore.labels import LABEL_MAX, NO_TONE, drawn_label, known_kinds, same_label
from model.explore.popular import PopularProvider, popular_note
from model.serve.latents import Latent, label_names, near_seed, plain_latents, slerp
from model.serve.pictures import to_gif, to_pil
from model.serve.reply import morph_frames
from model.serve.sampler import Sampler
from model.serve.seeds import Seed, SeedBook, load_seeds, save_seeds

log = logging.getLogger("model.explore")

Z_LIMIT = 3.0  # slider range: +-3 sigma of the prior covers 99.7 % of it

VIEW_SCALE = 4

POPULAR_MAX = 48  # pictures the popular panel may ask for

POPULAR_SCAN = 1000  # pictures looked at to find them (past those from another model)

RANDOM_MAX = 64  # candidates one request may ask for

NEIGHBOURS_MAX = 16

SIGMA_MAX = 3.0

STEPS_MIN, STEPS_MAX = 2, 32  # pictures in a slerp strip, and frames in its GIF

GIF_MS = 120  # per frame

DIRECTIONS = 8  # direction sliders the page shows (at most z_dim)

# The popular panel's source: n -> up to n pictures, most favourited first, each a dict with
# post_id, idx, url, favourites, boosts, seed_id, kind, created_at and z (see state_popular).


class NoSuchSeed(LookupError):
    """A seed id that is not in the seeds file (any more); the message says so."""


def clip(value: float, low: float, high: float) -> float:
    return max(low, min(value, high))


def no_such_seed(seed_id: int, path: Path) -> NoSuchSeed:
    return NoSuchSeed(f"no seed #{seed_id} in {path.name}; reload the page for the list")


@dataclass
class Explorer:
    """The page's logic: one loaded generator and the path of its seeds file.

    Latents go in and out as lists of floats, pictures as PNG/GIF bytes or PNG data URLs.
    """

    sampler: Sampler
    seeds_path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        load_seeds(self.seeds_path, self.sampler.z_dim)  # refuse another z_dim up front

    @property
    def z_dim(self) -> int:
        return self.sampler.z_dim

    def info(self) -> dict:
        card = self.sampler.card
        return {"z_dim": self.z_dim, "z_limit": Z_LIMIT,
                "image_size": self.sampler.generator.config.image_size,
                "seeds_file": str(self.seeds_path),
                "swd": (card.get("swd") or {}).get("mean"),
                "images_seen": card.get("images_seen"),
                "directions": min(DIRECTIONS, self.z_dim),
                "steps_min": STEPS_MIN, "steps_max": STEPS_MAX,
                "tones": list(TONES), "no_tone": NO_TONE, "label_max": LABEL_MAX}

    # ------------------------------------------------------------ latents and pictures

    def _tensor(self, z: list[float]) -> torch.Tensor:
        if len(z) != self.z_dim:
            raise ValueError(f"z must have {self.z_dim} values, got {len(z)}")
        return torch.tensor(z, dtype=torch.float32).nan_to_num(0.0).clamp(-Z_LIMIT, Z_LIMIT)

    def _batch(self, zs: list[list[float]]) -> torch.Tensor:
        if not zs:
            return torch.empty(0, self.z_dim)
        return torch.stack([self._tensor(z) for z in zs])

    def clamp(self, z: list[float]) -> list[float]:
        """z inside the sliders' range (NaN -> 0); ValueError for another length."""
        return self._tensor(z).tolist()

    def png(self, z: list[float], scale: int = VIEW_SCALE, label: Label | None = None) -> bytes:
        """One latent (clamped) -> PNG bytes of its picture, upscaled (nearest); a conditional
        generator draws it in label's classes (drawn_as)."""
        image = self.sampler.generate(self._tensor(z).reshape(1, -1),
                                      classes=self.drawn_as(label, [z]))[0]
        buf = io.BytesIO()
        to_pil(image, scale).save(buf, format="PNG")
        return buf.getvalue()

    def data_urls(self, zs: list[list[float]], scale: int = 1,
                  classes: torch.Tensor | None = None) -> list[str]:
        """Latents (clamped) -> one PNG data URL each, in order; classes (len(zs), k) for a
        class-conditional generator (None: each latent's own)."""
        if not zs:
            return []
        return self.picture_urls(self.sampler.generate(self._batch(zs), classes=classes), scale)

    @staticmethod
    def picture_urls(images: torch.Tensor, scale: int = 1) -> list[str]:
        """uint8 (B, C, S, S) pictures -> one PNG data URL each, in order."""
        out = []
        for image in images:
            buf = io.BytesIO()
            to_pil(image, scale).save(buf, format="PNG")
            out.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
        return out

    def seed_urls(self, seeds: list[Seed]) -> list[str]:
        """Each seed's thumbnail as the bot draws it: a class-conditional generator draws a
        labelled seed in its label's classes (Seed.latent), so that a relabelled seed shows
        what it draws now."""
        return self.data_urls([s.z for s in seeds], classes=self._seed_classes(seeds))

    def neighbour_urls(self, seed_id: int, n: int, sigma: float, rng_seed: int = 0
                       ) -> list[str]:
        """n pictures near a seed as the bot draws them: its neighbours in its classes."""
        seed = self.seed(seed_id)
        zs = self.neighbours(seed_id, n, sigma, rng_seed)
        classes = self._seed_classes([seed])
        return self.data_urls(zs, classes=None if classes is None
                              else classes.expand(len(zs), -1))

    def drawn_as(self, label: Label | None, zs: list[list[float]]) -> torch.Tensor | None:
        """(len(zs), k) classes that draw each latent as label says (the new seed's label
        fields on the page), for a class-conditional generator: the sliders then move within
        one kind and tone. None (each latent's own classes) without a label, or for an
        unconditional generator. A latent's own classes are a hash of its bytes: without a
        label every slider step would draw another kind."""
        return None if label is None else self._classes([(label, z) for z in zs])

    def _seed_classes(self, seeds: list[Seed]) -> torch.Tensor | None:
        """(len(seeds), k) classes of a class-conditional generator; None otherwise."""
        return self._classes([(s.label, s.z) for s in seeds])

    def _classes(self, labelled: list[tuple[Label | None, list[float]]]
                 ) -> torch.Tensor | None:
        """(len(labelled), k) classes of each (label, latent) as the bot draws it (the
        label's classes, else the latent's own: Latent.indices); None for an unconditional
        generator."""
        return self._latent_classes([Latent.of(self._tensor(z), label) for label, z in labelled])

    def _latent_classes(self, latents: list[Latent]) -> torch.Tensor | None:
        if not self.sampler.cond or not latents:
            return None
        return torch.cat([at.indices(self.sampler.cond) for at in latents])

    def random(self, n: int, seed: int = 0) -> list[list[float]]:
        """n (1 to RANDOM_MAX) draws from the prior, clamped, the same for the same seed."""
        z = plain_latents(int(clip(n, 1, RANDOM_MAX)), self.z_dim,
                          torch.Generator().manual_seed(seed)).clamp(-Z_LIMIT, Z_LIMIT)
        return [[round(v, 4) for v in row] for row in z.tolist()]

    def nudge(self, z: list[float], sigma: float, seed: int = 0) -> list[float]:
        """z plus N(0, sigma^2) noise, clamped."""
        out = near_seed(self._tensor(z), 1, clip(sigma, 0.0, SIGMA_MAX),
                        torch.Generator().manual_seed(seed))[0]
        return [round(v, 4) for v in out.clamp(-Z_LIMIT, Z_LIMIT).tolist()]

    @cached_property
    def _factors(self) -> tuple[list[list[float]], list[float]]:
        vectors, eigenvalues = factorize(self.sampler.generator)
        return vectors.tolist(), eigenvalues.tolist()

    def directions(self, k: int = DIRECTIONS) -> dict:
        """The k (1 to z_dim) strongest directions of change (unit lists of z_dim floats),
        their eigenvalues and each one's share of all (SeFa, computed once)."""
        vectors, eigenvalues = self._factors
        k = int(clip(k, 1, self.z_dim))
        total = sum(eigenvalues) or 1.0
        return {"directions": vectors[:k], "eigenvalues": eigenvalues[:k],
                "share": [e / total for e in eigenvalues[:k]]}

    # ------------------------------------------------------------ seeds

    @contextmanager
    def _locked(self) -> Iterator[SeedBook]:
        """Hold the seeds file for a read-modify-write: the thread lock, then a lock on the
        folder that holds it (other explorers). The folder, not a lock file: a lock file stays
        behind in weights/ (git status, a Docker build), and the seeds file itself is replaced
        by a rename on each save, so a lock on it would guard a file already gone."""
        folder = self.seeds_path.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with self._lock:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    yield load_seeds(self.seeds_path, self.z_dim)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def seeds(self) -> SeedBook:
        return load_seeds(self.seeds_path, self.z_dim)

    def seed(self, seed_id: int) -> Seed:
        seed = self.seeds().get(seed_id)
        if seed is None:
            raise no_such_seed(seed_id, self.seeds_path)
        return seed

    def add_seed(self, z: list[float], note: str, label: Label | None = None) -> Seed:
        zt = self._tensor(z)
        with self._locked() as book:  # re-read inside the lock: another save may have landed
            seed = Seed(book.next_id(), [round(v, 6) for v in zt.tolist()], note.strip()[:200],
                        label)
            book.seeds.append(seed)
            save_seeds(self.seeds_path, book)
        return seed

    def set_label(self, seed_id: int, label: Label | None) -> Seed:
        """Give a seed this label (None: unlabelled). The same kind, subgroup and tone as it
        has already writes nothing: a save would replace the .bak, the one copy of the file
        before the last real change, with an identical file (and reset the source)."""
        with self._locked() as book:
            seed = book.get(seed_id)
            if seed is None:
                raise no_such_seed(seed_id, self.seeds_path)
            if not same_label(seed.label, label):
                seed.label = label
                save_seeds(self.seeds_path, book)
        return seed

    @cached_property
    def kinds(self) -> list[dict]:
        """model/data/kinds.py's kinds, looked up once (the file does not change under a page)."""
        return known_kinds()

    def delete_seed(self, seed_id: int) -> bool:
        with self._locked() as book:
            kept = [s for s in book.seeds if s.id != seed_id]
            if len(kept) == len(book.seeds):
                return False
            book.seeds = kept
            save_seeds(self.seeds_path, book)
        return True

    def neighbours(self, seed_id: int, n: int, sigma: float,
                   rng_seed: int = 0) -> list[list[float]]:
        """n (1 to NEIGHBOURS_MAX) latents near a seed, as the bot draws them."""
        gen = torch.Generator().manual_seed(rng_seed)
        return near_seed(self.seed(seed_id).tensor(), int(clip(n, 1, NEIGHBOURS_MAX)),
                         clip(sigma, 0.0, SIGMA_MAX), gen).tolist()

    def strip(self, a: int, b: int, steps: int) -> list[list[float]]:
        """steps (STEPS_MIN to STEPS_MAX) latents from seed a to seed b along the sphere."""
        steps = int(clip(steps, STEPS_MIN, STEPS_MAX))
        return slerp(self.seed(a).tensor(), self.seed(b).tensor(),
                     torch.linspace(0, 1, steps)).tolist()

    def strip_pictures(self, a: int, b: int, steps: int) -> torch.Tensor:
        """uint8 (steps, C, S, S): the strip from seed a to seed b as the bot's morph draws
        it (model.serve.reply.morph_frames): a in a's classes, b in b's, blended between."""
        steps = int(clip(steps, STEPS_MIN, STEPS_MAX))
        return morph_frames(self.sampler, self.seed(a).latent(), self.seed(b).latent(), steps)

    def gif(self, zs: list[list[float]], scale: int = VIEW_SCALE, ms: int = GIF_MS,
            classes: torch.Tensor | None = None) -> bytes:
        """A looping GIF with one frame per latent, in order: the strip as the page shows it.

        (A frame identical to the one before is merged into it by the GIF writer.)
        """
        return self.pictures_gif(self.sampler.generate(self._batch(zs), classes=classes),
                                 scale, ms)

    @staticmethod
    def pictures_gif(images: torch.Tensor, scale: int = VIEW_SCALE, ms: int = GIF_MS) -> bytes:
        """uint8 (F, C, S, S) frames -> a looping GIF of them, in order."""
        return to_gif(images, scale, ms, bounce=False)

    # ------------------------------------------------------------ the popular panel

    def popular(self, provider: PopularProvider, n: int) -> list[dict]:
        """Up to n (1 to POPULAR_MAX) of the provider's pictures whose latent fits this model,
        most favourited first, each with its note as a seed and its picture as a data URL.
        A UserError from the provider (the state file gone, say) goes through."""
        n = int(clip(n, 1, POPULAR_MAX))
        fetch = n
        while True:  # ask for more while pictures from another model crowd the right ones out
            rows = provider(fetch)
            keep = [r for r in rows if self._fits(r.get("z"))]
            if len(keep) >= n or len(rows) < fetch or fetch >= POPULAR_SCAN:
                break
            fetch = min(fetch * 4, POPULAR_SCAN)
        keep = keep[:n]
        book = self.seeds()
        latents = [self._popular_latent(r, book) for r in keep]
        images = self.data_urls([r["z"] for r in keep], classes=self._latent_classes(latents))
        return [{**r, "note": popular_note(r), "image": image,
                 "label": drawn_label(at.drawn(self.sampler.cond), r)}
                for r, image, at in zip(keep, images, latents, strict=True)]

    def _popular_latent(self, row: dict, book: SeedBook) -> Latent:
        """A sent picture as the bot draws more of it (bot.drawing.artist.Artist.latent_of): its
        latent in the classes kept with it; a label set it has none for (sent before classes
        were kept), in its seed's label's."""
        seed = book.get(row["seed_id"]) if row.get("seed_id") is not None else None
        kept = label_names(seed.label if seed is not None else None)
        return Latent(self._tensor(row["z"]).tolist(), {**kept, **(row.get("classes") or {})})

    def _fits(self, z: object) -> bool:  # a latent from another model is skipped, not an error
        return (isinstance(z, list) and len(z) == self.z_dim
                and all(isinstance(v, int | float) and math.isfinite(v) for v in z))

"""The latent explorer: a page for curating good seeds and seeing what each dimension does.

    python -m model.explore                          # weights/ and weights/seeds.json
    python -m model.explore --weights runs/emoji --seeds runs/emoji/seeds.json --port 8765
    python -m model.explore --state state/bot.sqlite3   # plus the bot's most favourited pictures

The page has sliders for the generator's main directions of change (found in closed form from
its first layer, strongest first: see model/directions.py) above one slider per latent
dimension, random / nudge / reset, a grid of random candidates (click one to load it), "save as
good seed" with a note, the saved seeds with thumbnails and a few sigma-0.5 neighbours as the
bot would draw them (deleting one asks first), and a slerp strip between two seeds that
downloads as a GIF of the same steps. With --state (the bot's SQLite state file, read beside a
running bot), a "popular" panel lists the bot's most favourited pictures with their counts,
each loadable into the sliders and savable as a good seed in one click. Binds to loopback unless
told otherwise, and says so if the port is taken. Writes to the seeds file are atomic
(temporary file, then rename), keep one backup (.bak), and are serialised with a lock on the
seeds file's folder (no lock file is left behind), re-reading the file first, so two browsers
(or two explorers) saving at once lose nothing.

Each seed shows its label (kind, subgroup, skin tone; "unlabelled" for seeds kept before labels),
which the curator can edit in place (the kind field offers the names of model/kinds.py when that
module is there) and filter by, with counts per kind and tone; a seed saved from the page can
carry one too. Labels set here have source "explorer".

This module is the explorer's logic, on lists of floats in and PNG/GIF bytes or data URLs out,
and the command line; model/explore_app.py is the web app over it and model/static/ the page.
"""

from __future__ import annotations

import argparse
import base64
import errno
import fcntl
import io
import ipaddress
import logging
import math
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from model.directions import factorize
from model.errors import UserError, run_cli
from model.sampler import (
    SEEDS_FILE,
    TONES,
    Label,
    Sampler,
    Seed,
    SeedBook,
    load_seeds,
    near_seed,
    plain_latents,
    save_seeds,
    slerp,
    to_gif,
    to_pil,
)

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
LABEL_MAX = 60  # characters of a kind or subgroup: the longest emoji person name is ~40
NO_TONE = "none"  # the page's and the API's word for tone "" (the default yellow)

# The popular panel's source: n -> up to n pictures, most favourited first, each a dict with
# post_id, idx, url, favourites, boosts, seed_id, kind, created_at and z (see state_popular).
PopularProvider = Callable[[int], list[dict]]


class NoSuchSeed(LookupError):
    """A seed id that is not in the seeds file (any more); the message says so."""


def clip(value: float, low: float, high: float) -> float:
    return max(low, min(value, high))


def no_such_seed(seed_id: int, path: Path) -> NoSuchSeed:
    return NoSuchSeed(f"no seed #{seed_id} in {path.name}; reload the page for the list")


# ---------------------------------------------------------------- labels


def make_label(kind: str = "", subgroup: str = "", tone: str = "",
               source: str = "explorer") -> Label | None:
    """The label the curator typed, tidied (white space runs to one space, so one line);
    None when kind, subgroup and tone are all empty: clearing the fields removes the label.

    ValueError with a one-line message for a tone not in TONES ("" or "none": the default
    yellow) or a kind or subgroup over LABEL_MAX characters, before anything is written."""
    kind, subgroup = (" ".join(str(v).split()) for v in (kind, subgroup))
    tone = str(tone).strip()
    tone = "" if tone == NO_TONE else tone
    if tone and tone not in TONES:
        shown = tone if len(tone) <= 30 else tone[:30] + "..."
        raise ValueError(f"tone {shown!r} is not one of: {NO_TONE}, {', '.join(TONES)}")
    for name, value in (("kind", kind), ("subgroup", subgroup)):
        if len(value) > LABEL_MAX:
            raise ValueError(f"the {name} is {len(value)} characters long; give at most "
                             f"{LABEL_MAX} (a short name such as \"cook\")")
    if not (kind or subgroup or tone):
        return None
    return Label(kind, subgroup, tone, source)


def same_label(a: Label | None, b: Label | None) -> bool:
    """The same kind, subgroup and tone, wherever each came from."""
    def key(label: Label | None) -> tuple[str, ...] | None:
        return None if label is None else (label.kind, label.subgroup, label.tone)
    return key(a) == key(b)


@dataclass(frozen=True)
class LabelFilter:
    """Which seeds the list shows: all the conditions given hold (None: any).

    kind "" is a label with no kind (only a tone, say); tone "" is the default yellow. A seed
    without a label matches only when no kind or tone is asked for."""

    kind: str | None = None
    tone: str | None = None
    unlabelled: bool = False

    @classmethod
    def parse(cls, kind: str | None, tone: str | None, unlabelled: bool) -> LabelFilter:
        """From the query: tone "none" is the default yellow, "" or absent is any tone;
        ValueError for a tone that no seed can have."""
        tone = None if not tone else "" if tone == NO_TONE else tone
        if tone and tone not in TONES:
            raise ValueError(f"tone {tone[:30]!r} is not one of: {NO_TONE}, {', '.join(TONES)}")
        return cls(kind, tone, unlabelled)

    def matches(self, seed: Seed) -> bool:
        label = seed.label
        if self.unlabelled and label is not None:
            return False
        if self.kind is None and self.tone is None:
            return True
        return (label is not None and self.kind in (None, label.kind)
                and self.tone in (None, label.tone))


def label_counts(seeds: list[Seed]) -> dict:
    """How many seeds have each kind and each tone (tone "" counted as "none"), and how many
    have no label: the filter's options show them."""
    labels = [s.label for s in seeds if s.label is not None]
    tones = Counter(label.tone or NO_TONE for label in labels)
    return {"all": len(seeds), "unlabelled": len(seeds) - len(labels),
            "kinds": dict(sorted(Counter(label.kind for label in labels).items())),
            "tones": {t: tones[t] for t in (NO_TONE, *TONES) if tones[t]}}


def emoji_text(emoji: object) -> str:
    """A kind's emoji as the character(s) to show: model/kinds.py gives the code point
    sequences that draw it ("1F469-200D-1F373", first one shown); "" for anything else."""
    first = emoji[0] if isinstance(emoji, tuple | list) and emoji else emoji
    if not isinstance(first, str):
        return ""
    try:
        return "".join(chr(int(part, 16)) for part in first.split("-"))
    except ValueError:  # already the character itself
        return first


def known_kinds() -> list[dict]:
    """The emoji person kinds of model/kinds.py (name, subgroup, emoji), for the kind field's
    suggestions; [] while that module is not there, or (with a warning) when it fails: the
    field is free text either way, so the explorer never stops over it."""
    try:
        from model.kinds import load_kinds  # not at the top: the module may not exist yet
    except ModuleNotFoundError as exc:
        if exc.name != "model.kinds":
            log.warning("kind names unavailable (model.kinds: %s); the kind field is free text",
                        exc)
        return []
    try:
        kinds = load_kinds().kinds
        return [{"name": str(k.name), "subgroup": str(getattr(k, "subgroup", "") or ""),
                 "emoji": emoji_text(getattr(k, "emoji", ""))} for k in kinds]
    except Exception as exc:  # suggestions only: whatever fails, the field stays free text
        log.warning("kind names unavailable (%s); the kind field is free text", exc)
        return []


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

    def png(self, z: list[float], scale: int = VIEW_SCALE) -> bytes:
        """One latent (clamped) -> PNG bytes of its picture, upscaled (nearest)."""
        image = self.sampler.generate(self._tensor(z).reshape(1, -1))[0]
        buf = io.BytesIO()
        to_pil(image, scale).save(buf, format="PNG")
        return buf.getvalue()

    def data_urls(self, zs: list[list[float]], scale: int = 1) -> list[str]:
        """Latents (clamped) -> one PNG data URL each, in order."""
        if not zs:
            return []
        out = []
        for image in self.sampler.generate(self._batch(zs)):
            buf = io.BytesIO()
            to_pil(image, scale).save(buf, format="PNG")
            out.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
        return out

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
        """model/kinds.py's kinds, looked up once (the file does not change under a page)."""
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

    def gif(self, zs: list[list[float]], scale: int = VIEW_SCALE, ms: int = GIF_MS) -> bytes:
        """A looping GIF with one frame per latent, in order: the strip as the page shows it.

        (A frame identical to the one before is merged into it by the GIF writer.)
        """
        return to_gif(self.sampler.generate(self._batch(zs)), scale, ms, bounce=False)

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
        images = self.data_urls([r["z"] for r in keep])
        return [{**r, "note": popular_note(r), "image": image}
                for r, image in zip(keep, images, strict=True)]

    def _fits(self, z: object) -> bool:  # a latent from another model is skipped, not an error
        return (isinstance(z, list) and len(z) == self.z_dim
                and all(isinstance(v, int | float) and math.isfinite(v) for v in z))


def state_popular(path: Path) -> PopularProvider:
    """The popular panel's provider for the bot's state file: its most favourited pictures.

    Imports bot.state here, not at module import (model/ does not depend on bot/). The file is
    opened once now (an older schema is migrated in place, WAL mode: safe beside a running bot),
    then afresh for each call, so that each request thread has its own connection.
    """
    path = Path(path)
    if not path.is_file():  # State() would create an empty one and show nothing, silently
        raise UserError(f"--state {path}: no such file; give the bot's state file "
                        "(BOT_STATE_PATH, default state/bot.sqlite3) or leave --state out")
    from bot.state import State, StateError

    try:
        State(path).close()
    except StateError as exc:
        raise UserError(f"--state: {exc}") from None

    def popular(n: int) -> list[dict]:
        if not path.is_file():
            raise UserError(f"state file {path} is gone; restart the explorer with the "
                            "bot's state file")
        try:
            state = State(path)
        except StateError as exc:
            raise UserError(str(exc)) from None
        try:
            pictures = state.popular(limit=n)
        finally:
            state.close()
        return [{"post_id": p.post_id, "idx": p.idx, "url": p.url, "favourites": p.favourites,
                 "boosts": p.boosts, "seed_id": p.seed_id, "kind": p.kind,
                 "created_at": p.created_at, "z": list(p.z)} for p in pictures]

    return popular


def popular_note(picture: dict) -> str:
    """The note of a popular picture saved as a good seed."""
    def count(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")
    url = picture["url"]
    where = url if url.lower().startswith(("https://", "http://")) else f"post {picture['post_id']}"
    return (f"favourite {where}: {count(picture['favourites'], 'favourite')}, "
            f"{count(picture['boosts'], 'boost')}")


# ---------------------------------------------------------------- the command line


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m model.explore", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path,
                    default=Path(__file__).resolve().parent.parent / "weights")
    ap.add_argument("--seeds", type=Path, default=None, help=f"default WEIGHTS/{SEEDS_FILE}")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--state", type=Path, default=None, metavar="PATH",
                    help="the bot's state file (BOT_STATE_PATH, e.g. state/bot.sqlite3): show "
                    "its most favourited pictures in a popular panel")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        import fastapi  # noqa: F401  (create_app imports it)
        import uvicorn
    except ImportError:
        raise UserError("the explorer needs fastapi and uvicorn: pip install -e .") from None
    from model.explore_app import create_app  # the web app over this module's Explorer
    if not _is_loopback(args.host):
        log.warning("warning: binding to %s makes the explorer (which can edit your seeds "
                    "file) reachable from other machines; it has no login", args.host)
    popular = state_popular(args.state) if args.state is not None else None  # bot/ imported here
    explorer = Explorer(Sampler.load(args.weights, args.device),
                        args.seeds or args.weights / SEEDS_FILE)
    app = create_app(explorer, popular)
    check_port(args.host, args.port)  # before the address is printed: not one that is taken
    print(f"latent explorer on http://{args.host}:{args.port}/ (seeds: {explorer.seeds_path}"
          + (f"; popular from {args.state})" if popular else ")"))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def check_port(host: str, port: int) -> None:
    """Bind (host, port) as uvicorn will, then let go; a UserError if that cannot be done.

    The same socket options as uvicorn's (SO_REUSEADDR), so that a port only lingering in
    TIME_WAIT from the last run is not called busy.
    """
    if not 1 <= port <= 65535:
        raise UserError(f"--port {port} is not a port the page can be opened on; give one "
                        "from 1 to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} on {host} is already in use (another explorer?); "
                            f"stop that or pick another with --port N") from None
        if exc.errno == errno.EACCES:
            raise UserError(f"not allowed to listen on port {port} (ports below 1024 need "
                            "root); pick another with --port N") from None
        raise UserError(f"cannot listen on {host} port {port}: {exc.strerror or exc}; check "
                        "--host, or pick another port with --port N") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    # Run as python -m model.explore this file is the module __main__, and model.explore_app
    # imports it again as model.explore: two NoSuchSeed classes, and the app's except clause
    # would miss the one this copy's Explorer raises (an HTTP 500). So the command runs the one
    # module everything else imports.
    from model import explore

    run_cli(explore.main)

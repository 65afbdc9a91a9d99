"""Latent sampling, the API the bot and the explorer use.

    sampler = Sampler.load("weights")                 # best device, eval mode
    z = near_seed(seed_z, n=1, sigma=0.5, gen=request_rng("mastodon:123"))
    images = sampler.generate(z)                       # (1, 3, 64, 64) uint8

Sampling near a hand-picked "good" seed keeps replies fresh (new noise each time) but close to a
picture somebody liked. z + sigma * e raises the latent's norm (E|z'|^2 = (1 + sigma^2) d);
``preserve_norm`` uses sqrt(1 - sigma^2) z + sigma e instead, which stays on the N(0, I) prior.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from model.checkpoint import (
    DISCRIMINATOR_FILE,
    atomic_write_text,
    guard_unfit_reason,
    load_discriminator,
    load_generator,
    read_card,
)
from model.device import cpu_has_native_bf16, pick_device
from model.errors import UserError
from model.fastgan import latent_classes
from model.kinds import TONES as TONES  # re-exported: the serving API's names for the tones
from model.kinds import Label

log = logging.getLogger("model.sampler")
SEEDS_FILE = "seeds.json"
SEEDS_VERSION = 1
PNG_LEVEL = 1  # zlib level of reply PNGs: see render_png


def request_rng(request_id: str | int) -> torch.Generator:
    """A CPU generator seeded from a request id: the same id always draws the same latent."""
    digest = hashlib.sha256(str(request_id).encode("utf-8")).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


# ---------------------------------------------------------------- latents


def plain_latents(n: int, z_dim: int, gen: torch.Generator | None = None) -> torch.Tensor:
    """(n, z_dim) draws from the N(0, I) prior."""
    return torch.randn(n, z_dim, generator=gen)


def near_seed(z: torch.Tensor, n: int = 1, sigma: float = 0.5,
              gen: torch.Generator | None = None, preserve_norm: bool = False) -> torch.Tensor:
    """(z_dim,) seed -> (n, z_dim) latents z + N(0, sigma^2), or the norm-preserving mix."""
    if sigma < 0 or (preserve_norm and sigma > 1):
        raise ValueError(f"sigma must be in [0, {1 if preserve_norm else 'inf'}), got {sigma}")
    z = z.reshape(1, -1).float().cpu()
    noise = torch.randn(n, z.shape[1], generator=gen)
    if preserve_norm:
        return math.sqrt(1 - sigma**2) * z + sigma * noise
    return z + sigma * noise


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation between (D,) latents a and b at t (steps,) -> (steps, D).

    Gaussian latents live near a sphere of radius sqrt(D); a straight line between two of them
    passes through the low-density middle, where pictures go grey. slerp follows the sphere.
    """
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, 1)
    a, b = a.reshape(1, -1).float(), b.reshape(1, -1).float()
    cos = (a / a.norm()).mul(b / b.norm()).sum().clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if torch.sin(omega).abs() < 1e-4:  # parallel or opposite: no unique great circle
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


# ---------------------------------------------------------------- good seeds
# A seed's Label (kind, subgroup, tone, source) lives in model.kinds, beside the kinds table,
# so that code without torch can read it; it is the same class as model.sampler.Label.


@dataclass
class Seed:
    id: int
    z: list[float]
    note: str = ""
    label: Label | None = None  # None: not labelled (seeds files from before labels)

    def tensor(self) -> torch.Tensor:
        return torch.tensor(self.z, dtype=torch.float32)


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
        raise UserError(f"seeds file {path} is malformed ({exc}); fix it or restore "
                        f"{path.name}.bak") from None
    if file_dim != z_dim:
        raise UserError(f"seeds file {path} is for z_dim {file_dim} but the generator has "
                        f"z_dim {z_dim}; curate seeds for these weights or point at their file")
    wrong = next((s for s in seeds if len(s.z) != z_dim), None)
    if wrong is not None:
        raise UserError(f"seed #{wrong.id} in {path} has {len(wrong.z)} numbers but the "
                        f"generator has z_dim {z_dim}; fix or remove that seed, or restore "
                        f"{path.name}.bak")
    if len({s.id for s in seeds}) != len(seeds):
        raise UserError(f"seeds file {path} has duplicate ids; give each seed its own id")
    return SeedBook(z_dim, seeds)


def save_seeds(path: Path | str, book: SeedBook) -> None:
    """Atomic write that keeps the previous file as seeds.json.bak."""
    path = Path(path)
    if path.is_file():
        shutil.copy2(path, path.with_name(path.name + ".bak"))
    atomic_write_text(path, json.dumps(book.to_dict(), indent=1) + "\n")


# ---------------------------------------------------------------- images


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float (B, C, H, W) -> uint8 on CPU."""
    return images.float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()


def to_pil(image: torch.Tensor, scale: int = 1,
           resample: Image.Resampling = Image.Resampling.NEAREST) -> Image.Image:
    """One uint8 (C, H, W) image -> PIL, optionally upscaled for viewing."""
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), resample)
    return pil


def _resampling(name: str) -> Image.Resampling:
    return Image.Resampling.NEAREST if name == "nearest" else Image.Resampling.LANCZOS


def render_png(image: torch.Tensor, scale: int = 4, resample: str = "lanczos",
               compress_level: int = PNG_LEVEL) -> bytes:
    """One uint8 (C, H, W) picture -> PNG bytes, upscaled for viewing: the bot's reply image.

    zlib level 1, not PIL's default 6: encoding is most of a reply's cost and level 1 cuts it
    for a slightly larger file, still far below any platform's upload limit; optimize=True
    costs more again for little. The figures: README, `python -m bot.bench --levers`.
    """
    import io

    buf = io.BytesIO()
    to_pil(image, scale, _resampling(resample)).save(buf, format="PNG",
                                                     compress_level=compress_level)
    return buf.getvalue()


def to_gif(images: torch.Tensor, scale: int = 4, ms: int = 120, bounce: bool = True,
           resample: str = "lanczos") -> bytes:
    """uint8 (B, C, H, W) frames -> a looping GIF (there and back when bounce), upscaled like
    the PNG replies (Lanczos unless resample is "nearest"), so a morph looks like its picture.
    """
    import io

    frames = [to_pil(img, scale, _resampling(resample)) for img in images]
    if bounce and len(frames) > 2:
        frames = frames + frames[-2:0:-1]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=ms,
                   loop=0, disposal=2)
    return buf.getvalue()


def make_grid(images: torch.Tensor, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """uint8 (B, C, H, W) -> one (rows*H, nrow*W, C) uint8 array on a white background."""
    b, c, h, w = images.shape
    ncol = min(nrow, b)
    rows = math.ceil(b / ncol)
    sheet = np.full((rows * (h + pad) + pad, ncol * (w + pad) + pad, c), 255, np.uint8)
    arr = images.permute(0, 2, 3, 1).numpy()
    for i in range(b):
        y, x = divmod(i, ncol)
        sheet[pad + y * (h + pad): pad + y * (h + pad) + h,
              pad + x * (w + pad): pad + x * (w + pad) + w] = arr[i]
    return sheet


@dataclass
class Sampler:
    """A generator loaded for inference, with its model card."""

    generator: torch.nn.Module
    card: dict[str, Any]
    device: torch.device

    @classmethod
    def load(cls, weights_dir: Path | str, device: str = "auto") -> Sampler:
        dev = pick_device(device)
        generator, card = load_generator(weights_dir, dev)
        # NHWC: oneDNN and cuDNN run its convolutions without layout reorders (README).
        return cls(generator.to(memory_format=torch.channels_last), card, dev)

    @property
    def z_dim(self) -> int:
        return self.generator.config.z_dim

    @property
    def cond(self) -> dict[str, tuple[str, ...]]:
        """A class-conditional generator's label sets (model.cond), each with its class names
        in index order, as generate's classes index them; {} for an unconditional one."""
        return dict(getattr(self.generator.config, "cond", ()))

    @torch.inference_mode()
    def generate(self, z: torch.Tensor, batch: int = 256,
                 classes: torch.Tensor | None = None, bf16: bool = False) -> torch.Tensor:
        """(B, z_dim) latents -> (B, C, S, S) uint8 images on CPU, in eval mode.

        classes: (B, k) int64, one index per label set of `cond`, for a class-conditional
        generator; without them it draws each latent's classes from the latent itself
        (model.fastgan.latent_classes), so a latent always draws the same picture.
        bf16: under bf16 autocast (the guard's candidates, where bf16 is native): about twice
        as fast, and 0.3 levels of 255 off fp32 on average (p99 2)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"latents must be (B, {self.z_dim}), got {tuple(z.shape)}")
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            if classes is None:
                out = [to_uint8(self.generator(chunk.to(self.device)).float())
                       for chunk in z.float().split(batch)]
                return torch.cat(out)
            classes = self._checked(classes, z.shape[0])
            out = [to_uint8(self.generator(zs.to(self.device), cs.to(self.device)).float())
                   for zs, cs in zip(z.float().split(batch), classes.split(batch),
                                     strict=True)]
            return torch.cat(out)

    def _checked(self, classes: torch.Tensor, n: int) -> torch.Tensor:
        """classes as (n, k) int64, or ValueError saying what is wrong with them."""
        sizes = [len(c) for c in self.cond.values()]
        if not sizes:
            raise ValueError("this generator is unconditional; it takes no classes")
        classes = torch.as_tensor(classes).to(torch.int64).cpu()
        if classes.shape != (n, len(sizes)):
            raise ValueError(f"classes must be ({n}, {len(sizes)}): one index per label set "
                             f"({', '.join(self.cond)}) for each latent, got "
                             f"{tuple(classes.shape)}")
        if (classes < 0).any() or (classes >= torch.tensor(sizes)).any():
            raise ValueError(f"class indices must be below {sizes} "
                             f"({', '.join(self.cond)}), got {classes.max(0).values.tolist()}")
        return classes


# ---------------------------------------------------------------- what the bot serves


@dataclass(frozen=True)
class ServeOptions:
    sigma: float = 0.5  # noise around the chosen good seed
    preserve_norm: bool = False  # sqrt(1 - sigma^2) z + sigma e instead of z + sigma e
    best_of: int = 8  # candidates per picture, ranked by the discriminator (1: no guard)


@dataclass
class Guard:
    """Discriminator rejection sampling as ranking (Azadi et al., ICLR 2019): of k candidates
    near one seed, send the one D finds most real. Rank, never threshold: a request always
    gets a picture, and a weak D can only reorder, not refuse."""

    discriminator: torch.nn.Module
    device: torch.device
    # bf16 where it is native (CUDA, AVX512-BF16, AMX): for D and for G's k candidates
    # (serve's _best); a ranking needs no more precision, and the picture sent differs from
    # its fp32 drawing by a fraction of a level. Elsewhere both stay fp32.
    bf16: bool = False

    @torch.inference_mode()
    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, S, S), as sent -> (B,) D logits (higher: more like the data)."""
        x = images.to(self.device).float().div(127.5).sub(1.0)
        x = x.contiguous(memory_format=torch.channels_last)
        if not self.bf16:
            return self.discriminator(x).float().cpu()
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            return self.discriminator(x).float().cpu()


def load_guard(weights_dir: Path | str, device: str | torch.device = "auto") -> Guard | None:
    """The weights folder's discriminator as a guard, or None when it ships none or ships one
    not fitted for serving (a training run's: logged as a warning, served without a guard)."""
    dev = pick_device(device) if isinstance(device, str) else device
    if not (Path(weights_dir) / DISCRIMINATOR_FILE).is_file():
        return None
    reason = guard_unfit_reason(read_card(weights_dir), weights_dir)
    if reason is not None:
        log.warning("%s; until then each picture is the first of its candidates", reason)
        return None
    d = load_discriminator(weights_dir, dev)
    if d is None:  # removed since the look above
        return None
    bf16 = dev.type == "cuda" or cpu_has_native_bf16()
    return Guard(d.to(memory_format=torch.channels_last), dev, bf16)


@dataclass(frozen=True)
class Served:
    image: torch.Tensor  # (C, S, S) uint8: the picture sent
    z: torch.Tensor  # (z_dim,) its latent
    seed_id: int | None  # the good seed it is near (None: the plain prior)
    score: float | None  # the guard's logit for it (None: no guard)
    label: Label | None = None  # what that seed draws, when it is labelled


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


def serve(sampler: Sampler, seeds: SeedBook, request_id: str, options: ServeOptions,
          guard: Guard | None = None, seed_id: int | None = None, kind: str | None = None,
          tone: str | None = None) -> Served:
    """One picture as the bot sends it, deterministic given the request id: pick a good seed
    (or use seed_id), draw best_of latents near it, send the one the guard ranks highest.
    kind and tone (a kinds.json name, one of TONES) narrow the pick as pick_seed says; they
    are ignored with seed_id. The picture carries its seed's label: whoever asked can tell
    from it what was drawn. A class-conditional generator draws it in the classes
    label_classes gives: the seed's label, else the seed's own; with no seed, from rng."""
    rng = request_rng(request_id)
    if seed_id is not None:
        seed = seeds.get(seed_id)
        if seed is None:
            known = ", ".join(str(s.id) for s in seeds.seeds) or "none"
            raise ValueError(f"no seed #{seed_id} (known: {known})")
    else:
        seed, _ = pick_seed(seeds, rng, kind, tone)
    if seed is None:
        classes = label_classes(sampler, None, rng)  # a conditional G: drawn from rng
        k = options.best_of if guard is not None else 1
        z = plain_latents(k, sampler.z_dim, rng)  # (k, z_dim)
        return _best(sampler, z, 1, guard, None, classes)[0]
    # A conditional generator draws the seed's subgroup and tone (None: unconditional).
    classes = label_classes(sampler, seed.label, rng, seed.tensor())
    served = _best(sampler, _candidates(seed.tensor(), 1, options, guard, rng), 1, guard,
                   seed.id, classes)[0]
    return replace(served, label=seed.label)


def label_classes(sampler: Sampler, label: Label | None, rng: torch.Generator,
                  z: torch.Tensor | None = None) -> torch.Tensor | None:
    """(1, k) classes for a class-conditional generator: each label set's class from the
    label (a good seed's subgroup and tone) where it names one of that set's classes; else
    the class latent z draws by itself (model.fastgan.latent_classes: the picture the explorer
    showed, which somebody liked); else, without a latent, one drawn uniformly from rng.
    None for an unconditional generator, without touching rng: its replies stay the same."""
    if not sampler.cond:
        return None
    sizes = tuple(len(c) for c in sampler.cond.values())
    own = None if z is None else latent_classes(z.reshape(1, -1).float().cpu(), sizes)[0]
    row = []
    for i, (name, classes) in enumerate(sampler.cond.items()):
        value = getattr(label, name, None) if label is not None else None
        if value is not None and value in classes:
            row.append(classes.index(value))
        elif own is not None:
            row.append(int(own[i]))
        else:
            row.append(int(torch.randint(len(classes), (1,), generator=rng)))
    return torch.tensor([row], dtype=torch.int64)


def serve_near(sampler: Sampler, z: torch.Tensor, request_id: str, n: int,
               options: ServeOptions, guard: Guard | None = None,
               seed_id: int | None = None, label: Label | None = None) -> list[Served]:
    """n pictures near one latent (z_dim,), each the guard's best of its own best_of
    candidates, all drawn in one batch: "more like this" of a picture somebody liked.
    Deterministic given the request id; seed_id is only carried along (the good seed z
    itself came from). A conditional generator draws all n in the classes of label (what
    the liked picture was drawn as), else in those z draws by itself (label_classes)."""
    rng = request_rng(request_id)
    classes = label_classes(sampler, label, rng, z)
    return _best(sampler, _candidates(z, n, options, guard, rng), n, guard, seed_id, classes)


def _candidates(center: torch.Tensor, n: int, options: ServeOptions, guard: Guard | None,
                rng: torch.Generator) -> torch.Tensor:
    """(n * k, z_dim) latents near center: k candidates for each of n pictures."""
    k = options.best_of if guard is not None else 1
    return near_seed(center, n * k, options.sigma, rng, options.preserve_norm)


def _best(sampler: Sampler, z: torch.Tensor, n: int, guard: Guard | None,
          seed_id: int | None, classes: torch.Tensor | None = None) -> list[Served]:
    """Of (n * k, z_dim) candidates, rows i*k..(i+1)*k-1 competing for picture i, the n the
    guard ranks highest (the first of each group without a guard). classes: (1, k) for a
    conditional generator, the same for every candidate. The guard scores without classes:
    the unconditional logit, the one model.guard fits."""
    k = z.shape[0] // n
    ranked = guard is not None and k > 1
    # In bf16 where it is native (G costs 4x what D does, and bf16 halves it: the reply with
    # the guard fits 30 ms, README). The winner is sent as drawn: against its fp32 drawing it
    # is 0.3 levels of 255 off on average (p99 2), which nobody can see.
    images = _draw(sampler, z, classes, bf16=ranked and guard.bf16)  # (n * k, C, S, S) uint8
    if not ranked:
        picks, scores = [i * k for i in range(n)], [None] * n
    else:
        logits = guard.scores(images).reshape(n, k)  # (n, k)
        best = logits.argmax(dim=1)  # (n,)
        picks = [i * k + int(best[i]) for i in range(n)]
        scores = [float(logits[i, best[i]]) for i in range(n)]
    return [Served(images[j], z[j], seed_id, score) for j, score in zip(picks, scores,
                                                                           strict=True)]


def _draw(sampler: Sampler, z: torch.Tensor, classes: torch.Tensor | None,
          bf16: bool = False) -> torch.Tensor:
    """(B, z_dim) latents -> (B, C, S, S) uint8; classes (1, k) for every row, or None."""
    if classes is None:
        return sampler.generate(z, bf16=bf16)
    return sampler.generate(z, classes=classes.expand(z.shape[0], -1), bf16=bf16)


def morph_frames(sampler: Sampler, a: torch.Tensor, b: torch.Tensor, frames: int
                 ) -> torch.Tensor:
    """uint8 (frames, C, S, S): the pictures along the great circle from latent a to b.
    A conditional generator keeps a's classes throughout: a class drawn per frame would
    flicker between subgroups and tones."""
    path = slerp(a, b, torch.linspace(0.0, 1.0, frames))
    if not sampler.cond:
        return sampler.generate(path)
    sizes = tuple(len(c) for c in sampler.cond.values())
    classes = latent_classes(a.reshape(1, -1).float().cpu(), sizes)  # (1, k): a's own
    return sampler.generate(path, classes=classes.expand(frames, -1))


def served_images(sampler: Sampler, seeds: SeedBook, n: int, options: ServeOptions,
                  guard: Guard | None = None, seed: int = 0) -> torch.Tensor:
    """n pictures exactly as the bot would send them (for scoring): uint8 (n, C, S, S)."""
    return torch.stack([serve(sampler, seeds, f"eval-{seed}-{i}", options, guard).image
                        for i in range(n)])

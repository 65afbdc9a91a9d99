"""Training data: image folders -> one cached uint8 tensor, and the built-in emoji people.

Every image is decoded once (alpha composited onto white, padded to a square, Lanczos-resized)
into a (N, 3, S, S) uint8 array cached on disk, keyed by a hash of the file list (paths, sizes,
mtimes) and the size. Training then draws batches from memory: no per-step decoding.

Evaluation needs a held-out part that is really new to the model: ``image_groups`` names the
group of each image (for emoji-people, the base emoji: all skin tones of one emoji together)
and ``heldout_mask`` puts whole groups aside, deterministically.

    python -m model.data emoji-people DIR    # write the ~1,000 built-in PNGs to DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from model.checkpoint import atomic_write
from model.errors import UserError, run_cli
from model.kinds import EMOJI_FILE_NAME as _EMOJI_NAME  # the built-in set's file names
from model.kinds import SKIN_TONES

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
EMOJI_SIZE = 109  # the size of Noto Color Emoji's bitmap strike: other sizes do not render
PERSON_SUBGROUPS = ("person", "person-gesture", "person-role", "person-fantasy")
BUILTIN = "emoji-people"
CACHE_FORMAT = 1  # bump when decoding changes, so old caches are not reused


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "human-image-bot"


@dataclass(frozen=True)
class Dataset:
    """Decoded training images held in memory."""

    images: torch.Tensor  # (N, 3, S, S) uint8
    data_hash: str  # identifies the file list and the decoding
    source: str  # the folder, or "emoji-people"
    # Each image's file, relative to the folder, in the order of images; None when unknown
    # (a subset built in memory, or a cache from before names were kept, of a folder that
    # holds unreadable files).
    names: tuple[str, ...] | None = None
    # Each image's class index per label set of GANConfig.cond, (N, k) int64, when training
    # is class-conditional (model.cond.with_labels); None otherwise.
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.images.shape[0]


# ---------------------------------------------------------------- decoding a folder


def list_images(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def file_list_hash(paths: list[Path], size: int) -> str:
    """Hash of what decoding depends on: each path, size and mtime, the size, the format."""
    h = hashlib.sha256(f"format={CACHE_FORMAT};size={size}\n".encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p.resolve()}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def to_square_rgb(img: Image.Image, size: int) -> Image.Image:
    """Composite alpha onto white, pad to a centred square of white, resize with Lanczos."""
    img = ImageOps.exif_transpose(img)  # photos from phones carry their rotation in EXIF
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    side = max(rgb.size)
    square = Image.new("RGB", (side, side), (255, 255, 255))
    square.paste(rgb, ((side - rgb.width) // 2, (side - rgb.height) // 2))
    return square.resize((size, size), Image.Resampling.LANCZOS)


def decode_image(path: Path, size: int) -> np.ndarray:
    """One file -> (3, size, size) uint8. GIFs give their first frame."""
    with Image.open(path) as img:
        img.seek(0)
        img.load()
        return np.asarray(to_square_rgb(img, size)).transpose(2, 0, 1).copy()


def load_folder(folder: Path, size: int, cache_dir: Path, min_images: int = 1) -> Dataset:
    """Decode a folder of images once and cache the result; later calls read the cache."""
    if not folder.is_dir():
        raise UserError(f"data folder {folder} does not exist; pass --data DIR or emoji-people")
    paths = list_images(folder)
    if not paths:
        raise UserError(
            f"no images in {folder}; put .png/.jpg/.webp/.gif files in it or use --data {BUILTIN}"
        )
    key = file_list_hash(paths, size)
    cache = cache_dir / f"images-{key}.npy"
    names_file = cache_dir / f"images-{key}.names.json"  # written only when files were skipped
    names: tuple[str, ...] | None
    if cache.is_file():
        images = np.load(cache)
        names = _cached_names(names_file, paths, folder, len(images))
        log.info("loaded %d cached images from %s", len(images), cache)
    else:
        images, kept = _decode_all(paths, size)
        names = tuple(p.relative_to(folder).as_posix() for p in kept)
        cache_dir.mkdir(parents=True, exist_ok=True)
        _save_npy(cache, images)
        if len(kept) != len(paths):  # otherwise the file list itself says which is which
            _save_names(names_file, names)
        log.info("decoded %d images from %s into %s", len(images), folder, cache)
    if len(images) < min_images:
        raise UserError(
            f"{folder} has {len(images)} readable images, fewer than one batch of {min_images}; "
            "add images or lower --batch"
        )
    return Dataset(torch.from_numpy(images), key, str(folder), names)


def _decode_all(paths: list[Path], size: int) -> tuple[np.ndarray, list[Path]]:
    """Decode every readable file: (N, 3, size, size) uint8 and the N paths that were kept."""
    from tqdm import tqdm

    arrays, kept = [], []
    for path in tqdm(paths, desc="decoding images", unit="img", leave=False):
        try:
            arrays.append(decode_image(path, size))
            kept.append(path)
        # DecompressionBombError is not an OSError: a huge scan would otherwise stop training
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
            log.warning("skipping unreadable image %s: %s", path, exc)
    if not arrays:
        return np.zeros((0, 3, size, size), dtype=np.uint8), []
    return np.stack(arrays), kept


def _cached_names(names_file: Path, paths: list[Path], folder: Path,
                  count: int) -> tuple[str, ...] | None:
    """The file names of a cached array: its names file, else the file list when every file was
    kept, else None (files were skipped and the cache predates names files: which is unknown)."""
    try:
        names = json.loads(names_file.read_text(encoding="utf-8"))
        if isinstance(names, list) and len(names) == count and all(
                isinstance(n, str) for n in names):
            return tuple(names)
    except (OSError, ValueError):
        pass
    if len(paths) == count:
        return tuple(p.relative_to(folder).as_posix() for p in paths)
    return None


def load_dataset(
    data: str, size: int, cache_dir: Path | None = None, min_images: int = 1
) -> Dataset:
    """--data value -> Dataset: a folder, or 'emoji-people' (built on first use)."""
    cache_dir = cache_dir or default_cache_dir()
    if data == BUILTIN:
        folder = ensure_emoji_people(cache_dir / BUILTIN)
        ds = load_folder(folder, size, cache_dir, min_images)
        return Dataset(ds.images, ds.data_hash, BUILTIN, ds.names)
    return load_folder(Path(data).expanduser(), size, cache_dir, min_images)


# ---------------------------------------------------------------- a held-out split


def image_group(name: str) -> str:
    """The group of one image file: images of one group go to the same side of a split.

    A built-in emoji file (``0123_person-role_1F469-1F3FB-200D-1F373.png``) belongs to its base
    emoji, the code point sequence without the skin-tone modifiers 1F3FB-1F3FF ("1F469-200D-1F373"
    here): its skin-tone variants are near copies of each other, so holding out one variant while
    training on another would make "new" images that the model has all but seen (likewise the
    "facing right" variants, mirror images of their base). Any other file is its own group.
    """
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    match = _EMOJI_NAME.match(stem)
    if match is None:
        return name
    base = "-".join(c for c in match.group("codes").split("-") if c not in SKIN_TONES)
    # Unicode 15.1's "facing right" variants are mirror images of their base emoji, and the
    # model trains on mirrored images: keep them with their base too.
    return "emoji:" + base.replace("-200D-27A1-FE0F", "").replace("-200D-27A1", "")


def image_groups(data: Dataset) -> list[str] | None:
    """image_group of each image of a data set, in order; None when its file names are unknown
    (the caller then splits single images)."""
    return None if data.names is None else [image_group(n) for n in data.names]


def heldout_mask(groups: list[str], fraction: float = 0.2, seed: int = 0) -> torch.Tensor:
    """(N,) bool, True for the images held out: whole groups, about ``fraction`` of them.

    Deterministic and independent of the order of the images: groups are ranked by a hash of
    (seed, group) and the first round(fraction x groups) held out, at least one and never all.
    Adding files to a folder keeps the other groups where they were, unless the count moves.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    unique = sorted(set(groups))
    if len(unique) < 2:
        raise ValueError(f"a held-out split needs at least 2 groups of images, got {len(unique)}")
    count = min(max(round(fraction * len(unique)), 1), len(unique) - 1)
    rank = sorted(unique, key=lambda g: hashlib.sha256(f"{seed}\t{g}".encode()).digest())
    held = set(rank[:count])
    return torch.tensor([g in held for g in groups], dtype=torch.bool)


def without_held_out(data: Dataset, fraction: float, min_images: int = 1) -> Dataset:
    """The data set less its held-out groups (heldout_mask with this fraction, seed 0: the
    split model.evaluate's memorisation test holds out); the hash names the subset."""
    groups = image_groups(data)
    if groups is None:
        raise UserError(f"--held-out needs the file names of {data.source}'s images; delete "
                        "the cache folder's entry for it (its names file is missing) and retry")
    keep = ~heldout_mask(groups, fraction)
    if int(keep.sum()) < min_images:
        raise UserError(f"--held-out {fraction} leaves {int(keep.sum())} images, fewer than "
                        f"the batch ({min_images}); hold out less or lower --batch")
    names = tuple(n for n, k in zip(data.names or (), keep.tolist(), strict=True) if k)
    labels = None if data.labels is None else data.labels[keep]
    return Dataset(data.images[keep], f"{data.data_hash}-held{fraction:g}", data.source, names,
                   labels)


# ---------------------------------------------------------------- batches from memory


def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror half of the images left-right: (B, C, H, W) -> same."""
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def epoch_permutation(n: int, epoch: int, seed: int) -> torch.Tensor:
    """The order of the data set in an epoch: the same on every rank and after a resume."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


# ---------------------------------------------------------------- the built-in emoji people


def person_emoji(test_file: Path = EMOJI_TEST) -> list[tuple[str, str, str]]:
    """(subgroup, code points, name) of the fully-qualified person emoji in emoji-test.txt."""
    out = []
    subgroup = None
    for line in test_file.read_text(encoding="utf-8").splitlines():
        if line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif subgroup in PERSON_SUBGROUPS and "; fully-qualified" in line:
            codes, rest = line.split(";", 1)
            name = rest.split("#", 1)[1].strip().split(" ", 2)[-1] if "#" in rest else ""
            out.append((subgroup, codes.strip(), name))
    return out


def render_emoji(font: ImageFont.FreeTypeFont, text: str) -> Image.Image | None:
    """One emoji -> RGB image cropped to the glyph, on white; None if the font has no glyph."""
    canvas = Image.new("RGBA", (EMOJI_SIZE * 3, EMOJI_SIZE * 2), (255, 255, 255, 0))
    ImageDraw.Draw(canvas).text((8, 8), text, font=font, embedded_color=True)
    bbox = canvas.getchannel("A").getbbox()
    if bbox is None:
        return None
    glyph = canvas.crop(bbox)
    if glyph.width > EMOJI_SIZE * 1.5:  # a sequence the font lacks falls apart into pieces
        return None
    side = max(glyph.size) + 8  # a small white margin around the centred glyph
    out = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    out.alpha_composite(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
    return out.convert("RGB")


def build_emoji_people(out_dir: Path, font_path: Path = EMOJI_FONT,
                       test_file: Path = EMOJI_TEST) -> int:
    """Write one PNG per person emoji into out_dir; returns how many were written."""
    if not font_path.is_file():
        raise UserError(
            f"font {font_path} not found; install it with: apt-get install fonts-noto-color-emoji"
        )
    if not test_file.is_file():
        raise UserError(
            f"emoji list {test_file} not found; install it with: apt-get install unicode-data"
        )
    font = ImageFont.truetype(str(font_path), EMOJI_SIZE)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for i, (subgroup, codes, _name) in enumerate(person_emoji(test_file)):
        text = "".join(chr(int(c, 16)) for c in codes.split())
        img = render_emoji(font, text)
        if img is None:
            log.warning("font has no single glyph for %s; skipped", codes)
            continue
        img.save(out_dir / f"{i:04d}_{subgroup}_{codes.replace(' ', '-')}.png", optimize=True)
        written += 1
    return written


def ensure_emoji_people(folder: Path) -> Path:
    """Build the built-in set into folder unless a complete build is already there."""
    marker = folder / "COMPLETE"
    if marker.is_file():
        return folder
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("building the emoji-people data set into %s (once)", folder)
    n = build_emoji_people(tmp)
    (tmp / "COMPLETE").write_text(json.dumps({"images": n}) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)  # a crash mid-build leaves no half-built set behind
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    emoji = sub.add_parser(BUILTIN, help="render the built-in emoji people into DIR")
    emoji.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    n = build_emoji_people(args.dir)
    print(f"wrote {n} images to {args.dir}")
    return 0


if __name__ == "__main__":
    run_cli(main)


def _save_names(path: Path, names: tuple[str, ...]) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(list(names)), encoding="utf-8"))


def _save_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:  # a file object: np.save would append .npy to a path
            np.save(f, array)

    atomic_write(path, write)

"""Image folders -> one cached uint8 tensor, and the batch helpers training uses.

Every image is decoded once (alpha composited onto white, padded to a square, Lanczos-resized)
into a (N, 3, S, S) uint8 array cached on disk, keyed by a hash of the file list (paths, sizes,
mtimes) and the size. Training then draws batches from memory: no per-step decoding.
``load_dataset`` takes a folder, ``emoji-people`` (the small built-in font set, model.data.emoji)
or ``emoji-styles`` (three flat styles rendered from their vectors, model.data.vectors), built on
first use.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from model.data.emoji import BUILTIN, ensure_emoji_people
from model.data.vectors import BUILTIN_STYLES, ensure_emoji_styles
from model.errors import UserError
from model.files import atomic_write

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")

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
    # is class-conditional (model.train.cond.with_labels); None otherwise.
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.images.shape[0]


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
    """--data value -> Dataset: a folder, 'emoji-people' or 'emoji-styles' (built on first
    use)."""
    cache_dir = cache_dir or default_cache_dir()
    if data == BUILTIN:
        folder = ensure_emoji_people(cache_dir / BUILTIN)
        ds = load_folder(folder, size, cache_dir, min_images)
        return Dataset(ds.images, ds.data_hash, BUILTIN, ds.names)
    if data == BUILTIN_STYLES:  # rendered from the vectors at the size asked: no resampling
        folder = ensure_emoji_styles(cache_dir / f"{BUILTIN_STYLES}-{size}", size,
                                     cache_dir / "npm")
        ds = load_folder(folder, size, cache_dir, min_images)
        return Dataset(ds.images, ds.data_hash, BUILTIN_STYLES, ds.names)
    return load_folder(Path(data).expanduser(), size, cache_dir, min_images)


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


def _save_names(path: Path, names: tuple[str, ...]) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(list(names)), encoding="utf-8"))


def _save_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:  # a file object: np.save would append .npy to a path
            np.save(f, array)

    atomic_write(path, write)

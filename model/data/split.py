"""A held-out split that is really new to a model: whole groups of images (for emoji-people, a
base emoji with all its skin tones) set aside, deterministically.
"""

from __future__ import annotations

import hashlib

import torch

from model.data.images import Dataset
from model.data.kinds import EMOJI_FILE_NAME as _EMOJI_NAME  # the built-in set's file names
from model.data.kinds import SKIN_TONES
from model.errors import UserError


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

"""Save and load: the exported generator (safetensors + JSON card) and the training state.

Serving never unpickles. The generator ships as ``generator.safetensors`` (tensors only, with the
``GANConfig`` in its metadata so the architecture travels with the weights) beside
``generator.json``, the model card people read. Resuming a run uses ``ckpt.pt`` through
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers.
Every write goes to a temporary file first and is renamed into place, so a crash never leaves a
half-written file where a good one was.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from model.errors import UserError
from model.files import atomic_write, atomic_write_text
from model.nets.build import build_discriminator, build_generator
from model.nets.config import GANConfig

WEIGHTS_FILE = "generator.safetensors"

DISCRIMINATOR_FILE = "discriminator.safetensors"  # the serving guard ranks candidates with it

CARD_FILE = "generator.json"

FORMAT = 1

# The card's "sha256": {file name: hex digest} of each weights file it describes, written at
# export and checked at every load: bytes changed after export (a bad copy, a disk error,
# random bytes that still parse) are refused, never served as black pictures.
DIGESTS = "sha256"

log = logging.getLogger("model.nets")

# The mean SWD x1e3 (the card's "swd": {"mean": ...}, as the trainer records it: 1,000 eval-mode
# samples vs the training set) at which weights draw noise, not people. Measured on
# emoji-people at 64 px: an untrained generator scores 183-203 with its BatchNorm statistics
# re-estimated (as the trainer does for the EMA copy) and 498-635 with them at their initial
# values; a dry run records 214 (64 samples), a 2k-image run ~176, the plain baseline after
# 25k images 174.
# Everything that learnt shapes scored well below: 138.5 (WGAN-GP, 20 min), 134.8 (classic
# DCGAN, 25k images), 90.6 and 37.6 (20 min), 20.3 (the shipped weights). 150 sits in that gap.
# The descriptors are normalised per level, so other data sets land in a similar range.
NOISE_SWD = 150.0


def _tensors(module: torch.nn.Module, config: GANConfig
             ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A module's tensors (CPU, contiguous) and the metadata that carries its architecture."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    return tensors, {"format": str(FORMAT), "config": json.dumps(config.to_dict())}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """Write a safetensors file atomically; its sha256, taken from the very bytes renamed
    into place."""
    digest: list[str] = []

    def write(tmp: Path) -> None:
        save_file(tensors, str(tmp), metadata)
        digest.append(sha256_of(tmp))

    atomic_write(path, write)
    return digest[0]


def save_generator(out_dir: Path, generator: torch.nn.Module, config: GANConfig,
                   card: dict[str, Any]) -> None:
    """Write generator.safetensors (weights and BatchNorm statistics) and generator.json, which
    records the weights file's sha256."""
    tensors, metadata = _tensors(generator, config)
    # Serialise the card before touching anything, so a bad card leaves both files as they were.
    full = {"format": FORMAT, "config": config.to_dict(), **card}
    full.pop(DIGESTS, None)  # a card copied from another export: its digests are not these
    json.dumps(full)
    digest = _save_tensors(out_dir / WEIGHTS_FILE, tensors, metadata)
    full[DIGESTS] = {WEIGHTS_FILE: digest}
    atomic_write_text(out_dir / CARD_FILE, json.dumps(full, indent=2) + "\n")


def read_card(weights_dir: Path) -> dict[str, Any]:
    """The JSON model card, or {} when there is none."""
    path = Path(weights_dir) / CARD_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"model card {path} is not valid JSON ({exc}); restore it from git "
                        "or re-export the weights") from None


def unservable_reason(card: dict[str, Any]) -> str | None:
    """Why weights with this card must not be served (one line), or None when they may be.

    A dry run's export, or a card whose recorded SWD is that of noise, is refused; a card
    without those records (hand-made, or from an older trainer) is served.
    """
    if card.get("dry_run") is True:
        return ("its card says it is a dry run (python -m model.train --dry-run only proves "
                "the loop and draws noise); serve a real run's export or restore weights/ "
                "from git")
    swd = card.get("swd")
    mean = swd.get("mean") if isinstance(swd, dict) else swd
    recorded = isinstance(mean, (int, float)) and not isinstance(mean, bool)
    if recorded and (math.isnan(mean) or mean >= NOISE_SWD):  # NaN: the scoring broke down
        return (f"its card records SWD x1e3 {mean:.1f}, the level of an untrained generator "
                f"(noise; {NOISE_SWD:g} or more); train it longer, or serve another export "
                "or restore weights/ from git")
    return None


def _read_config(path: Path, card: dict[str, Any]) -> GANConfig:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise UserError(f"weights file {path} is truncated or corrupt ({exc}); re-export it "
                        "with python -m model.train or restore weights/ from git") from None
    raw = json.loads(meta["config"]) if "config" in meta else card.get("config")
    if raw is None:
        raise UserError(f"weights file {path} carries no GANConfig and {CARD_FILE} has none; "
                        "re-export it with python -m model.train")
    try:
        return GANConfig.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise UserError(f"weights file {path} has an invalid config ({exc}); "
                        "it was written by another version: re-export it") from None


def load_generator(weights_dir: Path | str, device: torch.device | str = "cpu"
                   ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A weights folder -> (generator in eval mode on device, model card)."""
    weights_dir = Path(weights_dir)
    path = weights_dir / WEIGHTS_FILE
    if not path.is_file():
        raise UserError(f"no {WEIGHTS_FILE} in {weights_dir}; point at a folder exported by "
                        "python -m model.train (for example weights/ or runs/NAME)")
    card = read_card(weights_dir)
    config = _read_config(path, card)
    generator = _load_into(path, build_generator(config), config, "re-export it with python -m "
                           "model.train or restore weights/ from git", card)
    if config.cond:  # the transitional ramp's value at export (model.train.cond); 1 past its end
        generator.cond_lambda = float(card.get("cond_lambda", 1.0))
    return generator.to(device).eval(), card


def _load_into(path: Path, module: torch.nn.Module, config: GANConfig, remedy: str,
               card: dict[str, Any]) -> torch.nn.Module:
    """Load a safetensors file into a module built from its config; UserError when the file
    is broken, does not fit, is not the file its card describes, or holds a value that is not
    finite."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise UserError(f"weights file {path} is truncated or corrupt ({exc}); {remedy}"
                        ) from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(line.strip() for line in str(exc).strip().splitlines()[:3])
        raise UserError(f"weights file {path} does not match its config "
                        f"(z_dim {config.z_dim}, size {config.image_size}): {detail}") from None
    _check_digest(path, card, remedy)
    bad = next((k for k, t in state.items() if t.is_floating_point()
                and not bool(torch.isfinite(t).all())), None)
    if bad is not None:  # NaN or inf: every picture would come out black
        raise UserError(f"weights file {path} holds values that are not finite (NaN or inf, in "
                        f"{bad}); {remedy}")
    return module


def _check_digest(path: Path, card: dict[str, Any], remedy: str) -> None:
    """The file must be the one its card describes. A card without digests (hand-made, or
    exported before they were recorded) is trusted, with a warning."""
    recorded = card.get(DIGESTS)
    expected = recorded.get(path.name) if isinstance(recorded, dict) else None
    if expected is None:
        log.warning("%s records no sha256 of %s, so a damaged file cannot be told from a good "
                    "one; re-export it (or python -m model.guard for the discriminator) to "
                    "record one", CARD_FILE, path)
        return
    actual = sha256_of(path)
    if actual != expected:
        raise UserError(f"weights file {path} is not the file {CARD_FILE} describes (sha256 "
                        f"{actual[:12]}..., the card records {str(expected)[:12]}...): damaged, "
                        f"or copied without its card; {remedy}")


# The card entry of a discriminator as training left it: kept for python -m model.guard to
# start from, never used as the guard (guard_unfit_reason).
TRAINING_DISCRIMINATOR = {
    "fitted_for_serving": False,
    "use": "the training discriminator: the bot serves without a guard until python -m "
           "model.guard fits it against the exported generator"}


def save_discriminator(out_dir: Path, discriminator: torch.nn.Module, config: GANConfig,
                       entry: dict[str, Any]) -> None:
    """Write discriminator.safetensors beside the generator and record it in the card under
    "discriminator" (file, images seen, what it is for). The generator's card must exist."""
    out_dir = Path(out_dir)
    card = read_card(out_dir)
    if not card:
        raise UserError(f"no {CARD_FILE} in {out_dir}: export the generator first")
    tensors, metadata = _tensors(discriminator, config)
    card["discriminator"] = {"file": DISCRIMINATOR_FILE, **entry}
    json.dumps(card)  # a card that cannot be written leaves both files as they were
    digest = _save_tensors(out_dir / DISCRIMINATOR_FILE, tensors, metadata)
    digests = card.get(DIGESTS) if isinstance(card.get(DIGESTS), dict) else {}
    card[DIGESTS] = {**digests, DISCRIMINATOR_FILE: digest}
    atomic_write_text(out_dir / CARD_FILE, json.dumps(card, indent=2) + "\n")


def guard_unfit_reason(card: dict[str, Any], weights_dir: Path | str) -> str | None:
    """Why the folder's discriminator must not rank the pictures the bot sends (one line), or
    None when it may.

    Only a discriminator fitted against the exported generator is a guard: the one a training
    run leaves learnt from DiffAugment's blank borders and cut-out squares that blank means
    real, and ranks broken, half-blank candidates first. python -m model.guard records
    "fitted_for_serving": true; the trainer's export records false. Cards written before that
    field: fitted when model.guard recorded what it was "trained_against".
    """
    entry = card.get("discriminator")
    entry = entry if isinstance(entry, dict) else {}
    if entry.get("fitted_for_serving", bool(entry.get("trained_against"))) is True:
        return None
    return (f"the discriminator in {weights_dir} is not fitted for serving (its card does not "
            "say so; the one a training run leaves ranks broken, half-blank pictures first); "
            f"fit it with python -m model.guard {weights_dir} --data DATA")


def load_discriminator(weights_dir: Path | str, device: torch.device | str = "cpu"
                       ) -> torch.nn.Module | None:
    """The exported discriminator in eval mode, or None when the folder ships none."""
    path = Path(weights_dir) / DISCRIMINATOR_FILE
    if not path.is_file():
        return None
    config = _read_config(path, {})
    discriminator = _load_into(path, build_discriminator(config), config,
                               "re-export it or delete it to serve without the guard",
                               read_card(Path(weights_dir)))
    return discriminator.to(device).eval()

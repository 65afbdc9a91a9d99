"""A run's training state, ``ckpt.pt``: written atomically, read back with
``torch.load(weights_only=True)`` (tensors and plain containers only: never arbitrary pickles),
and the discriminator a run left, exported from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from model.errors import UserError
from model.files import atomic_write
from model.nets.build import build_discriminator
from model.nets.config import GANConfig
from model.nets.weights import TRAINING_DISCRIMINATOR, save_discriminator

CKPT_FILE = "ckpt.pt"


def discriminator_from_checkpoint(path: Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A run's ckpt.pt -> (its discriminator, the training state it came from)."""
    state = load_training_state(path)
    discriminator = build_discriminator(GANConfig.from_dict(state["config"]["gan"]))
    discriminator.load_state_dict({k.removeprefix("module."): v for k, v in state["D"].items()})
    return discriminator, state


def export_discriminator_from_checkpoint(run_dir: Path | str) -> dict[str, Any]:
    """A run folder's ckpt.pt -> discriminator.safetensors + its card entry (for runs whose
    trainer exported only G). Returns the entry."""
    run_dir = Path(run_dir)
    discriminator, state = discriminator_from_checkpoint(run_dir / CKPT_FILE)
    entry = {"images_seen": state.get("images_seen"), "steps": state.get("step"),
             **TRAINING_DISCRIMINATOR}
    save_discriminator(run_dir, discriminator, discriminator.config, entry)
    return entry


def save_training_state(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_training_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}; drop --resume to start a new run there")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file: all mean the same here
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"checkpoint {path} cannot be read ({msg}); it is truncated or "
                        "not a checkpoint of this trainer: start a new run with another --out"
                        ) from None

"""A run's resumable state: what ckpt.pt holds, the checks before reading it, restoring it.

A resumed run continues exactly (same weights, optimiser moments, data order and noise) when
it has as many ranks as the checkpoint; with another number it gets a fresh, still
deterministic noise stream per rank.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from model.errors import UserError
from model.nets.weights import WEIGHTS_FILE
from model.train import distributed as ddp
from model.train.options import TrainConfig
from model.train.state import CKPT_FILE, load_training_state
from model.train.step import Batches, Models
from model.train.warm_start import warm_start

log = logging.getLogger("model.train")  # the trainer's one name, whichever module logs


@dataclass
class Progress:
    step: int = 0
    images_seen: int = 0
    train_seconds: float = 0.0  # inside training steps
    wall_seconds: float = 0.0  # the whole loop, grids and checkpoints included
    last: dict[str, float] = field(default_factory=dict)


SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"  # what the bot serves


def refuse_finished_work(out: Path) -> None:
    """A new run in a folder with a checkpoint or an export would overwrite it: a UserError
    naming the file and what to do, before anything is read or written.

    A folder the bot serves from (the repo's weights/, or any export without the checkpoint of
    a run) is never offered --force: train elsewhere and copy the better export there."""
    has_run, has_export = (out / CKPT_FILE).is_file(), (out / WEIGHTS_FILE).is_file()
    if not (has_run or has_export):
        return
    if out.resolve() == SHIPPED_WEIGHTS or not has_run:
        raise UserError(f"{out} holds weights a bot serves ({out / WEIGHTS_FILE}), not a run "
                        "to start over; train into another --out (runs/NAME), then score it "
                        "and copy its export there if it is better")
    raise UserError(f"{out} already holds a run ({out / CKPT_FILE}); add --resume to "
                    "continue it, or --force to start over (its export is kept in a "
                    "previous-export folder), or choose another --out")


def config_differences(saved: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} in the checkpoint, {b!r} now")
    return out


def load_resumable(ckpt_path: Path, cfg: TrainConfig, data_hash: str) -> dict[str, Any]:
    """The checkpoint's state, refused when it was trained with other settings or data."""
    state = load_training_state(ckpt_path)
    # A checkpoint from before a setting existed ran with that setting's default.
    diffs = config_differences(TrainConfig.from_dict(state["config"]).to_dict(), cfg.to_dict())
    if diffs:
        raise UserError(f"{ckpt_path} was trained with other settings ({'; '.join(diffs)});"
                        " resume with the same flags or start a new run with another --out")
    if state.get("data_hash") not in (None, data_hash):
        raise UserError(f"the training data changed since {ckpt_path} was written; resume "
                        "with the same images or start a new run with another --out")
    return state


def restore(state: dict[str, Any] | None, m: Models, batches: Batches, cfg: TrainConfig,
            d: ddp.Dist, device: torch.device) -> Progress:
    """Put the checkpoint's weights, optimisers and data position back and seed this rank's
    noise and augmentation; a new run (state None) starts at zero, from the weights of
    cfg.init_from's run when it names one (model.train.warm_start)."""
    if state is None:
        if cfg.init_from:
            started = warm_start(m, Path(cfg.init_from))
            log.info("started from the weights of %s (%.1f kimg)%s", started["from"],
                     started["images_seen"] / 1000, "; new: " + ", ".join(started["new"])
                     if started["new"] else "")
        torch.manual_seed(cfg.seed * 7919 + d.rank)  # per-rank noise and augmentation
        return Progress()
    m.G.load_state_dict(state["G"])
    m.D.load_state_dict(state["D"])
    if m.ema is not None:
        m.ema.load_state_dict(state["ema"])
    if m.recon is not None:
        m.recon.load_state_dict(state["recon"])
    if state.get("lecam_avg") is not None:
        m.lecam_avg = state["lecam_avg"].to(device)
    m.opt_g.load_state_dict(state["opt_g"])
    m.opt_d.load_state_dict(state["opt_d"])
    p = Progress(state["step"], state["images_seen"], state["train_seconds"],
                 state.get("wall_seconds", state["train_seconds"]), state["last"])
    batches.epoch, batches.pos = state["epoch"], state["epoch_pos"]
    rngs = state["rng"]
    if len(rngs) == d.world:
        set_rng_state(rngs[d.rank], device)
    else:  # another number of ranks: a fresh, still deterministic stream per rank
        torch.manual_seed(cfg.seed * 7919 + p.step * 131 + d.rank)
    return p


def training_state(m: Models, cfg: TrainConfig, p: Progress, batches: Batches,
                   rng_states: list[object], data_hash: str) -> dict[str, Any]:
    """What ckpt.pt holds (format 1): everything a resume needs, tensors and plain data only."""
    return {
        "format": 1,
        "config": cfg.to_dict(),
        "G": m.G.state_dict(), "D": m.D.state_dict(),
        "ema": m.ema.state_dict() if m.ema is not None else None,
        "opt_g": m.opt_g.state_dict(), "opt_d": m.opt_d.state_dict(),
        "recon": m.recon.state_dict() if m.recon is not None else None,
        "lecam_avg": m.lecam_avg.detach().cpu(),
        "step": p.step, "images_seen": p.images_seen, "train_seconds": p.train_seconds,
        "wall_seconds": p.wall_seconds, "epoch": batches.epoch, "epoch_pos": batches.pos,
        "rng": rng_states,  # one per rank
        "last": p.last,
        "data_hash": data_hash,
    }


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)

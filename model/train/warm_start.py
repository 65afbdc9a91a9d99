"""Start a run from another run's weights (``--init-from RUN``): fine-tuning.

A trained run's G, D, EMA copy and FastGAN decoders are copied into the new run's networks
by name; what the new networks have and the old ones lack (the class embeddings and
projections a ``--cond`` run adds) keeps its fresh initialisation. Everything else starts as
in a new run: optimisers, the image count (so ``--kimg`` and the conditioning ramp count
from here), LeCam's averages, data order and noise. This is the usual transfer recipe of
StyleGAN2-ADA (``--resume`` of a pickle there): weights, not the optimiser's moments, whose
scale belongs to the old data and the old losses.

Two uses: a class-conditional generator warm-started from an unconditional one, whose
transitional ramp (model.train.cond) then starts at 0 and introduces the classes into
networks that already draw people; and a model trained on the built-in people fine-tuned
on a folder of one's own pictures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.errors import UserError
from model.train.state import CKPT_FILE, load_training_state
from model.train.step import Models

# Parameters a conditional network has and an unconditional one lacks (model.nets.fastgan).
NEW_ALLOWED = ("embed.", "project.")


def warm_start(m: Models, source: Path) -> dict[str, Any]:
    """Copy the weights of the run in folder `source` (its ckpt.pt) into m's networks; the
    optimisers are left fresh. Returns what was copied, for options.json and the log:
    {"from": path, "images_seen": int, "new": [parameter names that kept their init]}.

    A UserError names the first weight that does not fit (another architecture, width, image
    size or latent size) before any network is changed."""
    path = Path(source) / CKPT_FILE
    if not path.is_file():
        raise UserError(f"--init-from {source}: no checkpoint there ({path}); name the folder "
                        "of a run of python -m model.train")
    state = load_training_state(path)
    pairs = [("G", m.G, state.get("G")), ("D", m.D, state.get("D")),
             ("ema", m.ema, state.get("ema") or state.get("G")),
             ("recon", m.recon, state.get("recon"))]
    plans = [(net, _plan(name, net, weights, source)) for name, net, weights in pairs
             if net is not None]
    new: list[str] = []
    for net, (weights, missing) in plans:  # every check passed: now change the networks
        _unwrap(net).load_state_dict(weights, strict=False)
        new += missing
    return {"from": str(source), "images_seen": int(state.get("images_seen", 0)),
            "new": sorted(set(new))}


def _plan(name: str, net: nn.Module, weights: dict[str, torch.Tensor] | None, source: Path
          ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(the source weights to load into net, the names net keeps fresh), or a UserError."""
    target = _unwrap(net).state_dict()
    if weights is None:
        if name == "recon":  # a source without decoders: they start fresh, as in a new run
            return {}, list(target)
        raise UserError(f"--init-from {source}: its checkpoint has no {name} weights; name "
                        "a run that trained with them")
    weights = {k.removeprefix("module."): v for k, v in weights.items()}
    for key, value in weights.items():
        if key not in target:
            raise UserError(f"--init-from {source}: its {name} has {key!r}, this run's does "
                            "not (another architecture or conditioning); use the source's "
                            "--preset and --cond, or train from scratch")
        if tuple(value.shape) != tuple(target[key].shape):
            raise UserError(f"--init-from {source}: {name} weight {key!r} is "
                            f"{tuple(value.shape)} there and {tuple(target[key].shape)} here; "
                            "use the source's --width, --z-dim and --image-size")
    missing = [k for k in target if k not in weights]
    unexpected = [k for k in missing if not k.startswith(NEW_ALLOWED)]
    if unexpected:
        raise UserError(f"--init-from {source}: its {name} lacks {unexpected[0]!r}, which "
                        "this run's has; use the source's --preset and network flags")
    return weights, missing


def _unwrap(net: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (names without "module.")."""
    return getattr(net, "module", net)

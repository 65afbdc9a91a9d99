"""What a run shows and ships: fixed-noise grids, the losses plot, and at the end the scored
export the bot loads (generator.safetensors + generator.json, whose "sha256" records each
weights file's digest, checked at every load: model.nets.weights), and D, marked not fitted for
serving: python -m model.guard makes the guard of it. A run that starts over (--force) in a
folder holding an export first copies that export to OUT/previous-export-<time>/."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from model import __version__
from model.data.images import Dataset
from model.data.split import image_groups
from model.data.vectors import data_credits
from model.device import machine_description
from model.evaluate.score import evaluate
from model.nets.ema import reestimate_batchnorm
from model.nets.weights import (
    CARD_FILE,
    DISCRIMINATOR_FILE,
    TRAINING_DISCRIMINATOR,
    WEIGHTS_FILE,
    read_card,
    save_discriminator,
    save_generator,
)
from model.serve.pictures import make_grid, to_uint8
from model.serve.sampler import Sampler
from model.train.cond import grid_classes, sample_labels
from model.train.options import Run, TrainConfig
from model.train.resume import Progress
from model.train.step import Models

log = logging.getLogger("model.train")  # the trainer's one name, whichever module logs


def fixed_noise(cfg: TrainConfig) -> torch.Tensor:
    """The 64 latents every grid of a run draws, from their own generator: the global
    stream (and so the training) is the same whether grids are drawn or not."""
    return torch.randn(64, cfg.gan.z_dim, generator=torch.Generator().manual_seed(cfg.seed))


def save_grid(path: Path, images: torch.Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_grid(images)).save(path)


@torch.no_grad()
def draw(generator: torch.nn.Module, z: torch.Tensor, device: torch.device,
         classes: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 pictures of z in eval mode; classes (B, k) for a conditional generator."""
    was_training = generator.training
    generator.eval()
    extra = () if classes is None else (classes.to(device),)
    out = to_uint8(generator(z.to(device), *extra))
    generator.train(was_training)
    return out


def plot_losses(log_path: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    if not rows:
        return
    kimg = np.array([r["kimg"] for r in rows])
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    window = max(1, len(rows) // 100)
    for key in ("loss_d", "loss_g"):
        y = np.array([r[key] for r in rows])
        smooth = np.convolve(y, np.ones(window) / window, mode="valid")
        ax.plot(kimg[window - 1:], smooth, label=key)
    ax.set_xlabel("thousands of real images seen")
    ax.set_ylabel(f"loss (mean of {window} steps)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def score(generator: torch.nn.Module, data: Dataset, n: int, device: torch.device,
          seed: int) -> dict[str, Any]:
    """n eval-mode samples against the data (model.evaluate.score.evaluate): SWD, the k-NN metrics
    and the held-out memorisation test, split by base emoji when the file names are known.
    A conditional generator draws the classes of n real images (seeded): the data's balance."""
    was_training = generator.training
    generator.eval()
    classes = None
    if data.labels is not None:
        classes = sample_labels(data.labels.cpu(), n, torch.Generator().manual_seed(seed))
    try:
        result = evaluate(Sampler(generator, {}, device), data.images.cpu(), n, seed,
                          groups=image_groups(data), classes=classes)
    finally:
        generator.train(was_training)
    keys = ("swd", "memorisation_share", "memorisation", "precision", "recall", "density",
            "coverage")
    return {key: result[key] for key in keys}


def export(run: Run, m: Models, p: Progress, data: Dataset) -> dict[str, Any]:
    """Score G and the EMA copy (its BatchNorm statistics re-estimated); ship the better."""
    cfg, out, device, limits = run.cfg, run.out, run.device, run.limits
    n = min(limits.eval_n, 64) if limits.dry_run else limits.eval_n
    candidates: dict[str, torch.nn.Module] = {"generator": m.G}
    if m.ema is not None:
        # 32 batches of 64 for a real run; fewer when the evaluation itself is tiny
        reestimate_batchnorm(m.ema, cfg.gan.z_dim, device, batches=max(4, min(32, n // 32)),
                             seed=cfg.seed, labels=data.labels)
        candidates["ema"] = m.ema
    scores = {name: score(g, data, n, device, cfg.seed + 1) for name, g in candidates.items()}
    best = min(scores, key=lambda k: scores[k]["swd"]["mean"])
    fixed_z, fixed_c = fixed_noise(cfg), grid_classes(cfg.gan.cond)
    for name, g in candidates.items():
        save_grid(out / f"grid_final_{name}.png", draw(g, fixed_z, device, fixed_c))
    save_grid(out / "grid_final.png", draw(candidates[best], fixed_z, device, fixed_c))
    plot_losses(out / "log.jsonl", out / "losses.png")
    card = {
        "exported": best,
        "preset": cfg.preset,
        "loss": cfg.loss,
        "training": cfg.to_dict(),
        "data": {"source": data.source, "images": len(data), "hash": data.data_hash,
                 "licences": data_credits(data.source)},
        "images_seen": p.images_seen,
        "steps": p.step,
        "train_seconds": round(p.train_seconds, 1),
        "wall_seconds": round(p.wall_seconds, 1),
        "machine": machine_description(device),
        "precision": "bf16 autocast" if run.amp else "fp32",
        "last_losses": p.last,
        "swd": scores[best]["swd"],
        "memorisation_share": scores[best]["memorisation_share"],
        "scores": scores,
        "eval_samples": n,
        # four steps on a handful of images: the bot refuses to serve it (unservable_reason)
        "dry_run": limits.dry_run,
        "version": __version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if cfg.gan.cond:  # what model.serve maps a seed's label to, and the ramp's last value
        card["cond"] = {name: list(classes) for name, classes in cfg.gan.cond}
        card["cond_lambda"] = m.G.cond_lambda
    if not run.resume:  # a new run over an old export (--force): never without a way back
        keep_previous_export(out)
    save_generator(out, candidates[best], cfg.gan, card)
    save_discriminator(out, m.D, cfg.gan, {"images_seen": p.images_seen, "steps": p.step,
                                           **TRAINING_DISCRIMINATOR})
    return read_card(out)


def keep_previous_export(out: Path) -> Path | None:
    """Copy the export in `out` (generator, card, discriminator) into a new folder
    OUT/previous-export-<UTC time>/ before a new run's export replaces it, and say so.

    --force once turned the shipped weights into a dry run's noise with no way back but git,
    and a Docker image has no git: copying the files back undoes it. None: nothing to keep."""
    if not (out / WEIGHTS_FILE).is_file():
        return None
    backup = out / f"previous-export-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    backup.mkdir()  # a new name each time: an older backup is never overwritten
    for name in (WEIGHTS_FILE, CARD_FILE, DISCRIMINATOR_FILE):
        if (out / name).is_file():
            shutil.copy2(out / name, backup / name)
    log.info("the previous export of %s is kept in %s; copy its files back to undo this run",
             out, backup)
    return backup

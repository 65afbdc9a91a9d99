"""The training loop, top to bottom: data, models (or the checkpoint's), steps until a limit,
a checkpoint, the export. Every rank runs it; rank 0 alone writes files."""

from __future__ import annotations

import json
import logging
import math
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from model import __version__
from model.data.images import Dataset, load_dataset
from model.data.split import without_held_out
from model.device import pick_device
from model.errors import UserError
from model.files import atomic_write_text
from model.train import distributed as ddp
from model.train.cond import cond_lambda, grid_classes, set_cond_lambda, with_labels
from model.train.export import draw, export, fixed_noise, save_grid
from model.train.options import Run, RunLimits, TrainConfig
from model.train.resume import (
    Progress,
    load_resumable,
    refuse_finished_work,
    restore,
    rng_state,
    training_state,
)
from model.train.state import CKPT_FILE, save_training_state
from model.train.step import Batches, Models, build_models, train_step

log = logging.getLogger("model.train")  # the trainer's one name, whichever module logs


def train(cfg: TrainConfig, out: Path, limits: RunLimits, *, resume: bool = False,
          force: bool = False, device: torch.device | None = None, amp: bool = False,
          channels_last: bool = True, cache_dir: Path | None = None,
          show_progress: bool = True) -> dict[str, Any] | None:
    """Run (or continue) training into `out`; returns the exported card on rank 0.

    A new run (not resume) into a folder holding ckpt.pt or generator.safetensors is refused
    unless force: a dry run once replaced the shipped generator with noise.
    """
    if not resume and not force:
        refuse_finished_work(out)  # every rank sees the same folder: all refuse together
    device = device or pick_device("auto")
    d = ddp.from_env(device.type)
    if d.enabled and device.type == "cuda":
        device = torch.device("cuda", d.local_rank)
    if cfg.batch % d.world:
        raise UserError(f"--batch {cfg.batch} must be a multiple of the {d.world} ranks")
    run = Run(cfg, out, limits, device, resume=resume, amp=amp, channels_last=channels_last,
              cache_dir=cache_dir, show_progress=show_progress)
    try:
        card = training_loop(run, d)
    except KeyboardInterrupt:  # every rank agreed to stop (ddp.any_rank): leave together
        ddp.shutdown(d, together=True)
        raise
    except BaseException:  # this rank alone may have failed: never wait for the others
        ddp.shutdown(d, together=False)
        raise
    ddp.shutdown(d, together=True)
    return card


def training_loop(run: Run, d: ddp.Dist) -> dict[str, Any] | None:
    cfg, limits, out, device = run.cfg, run.limits, run.out, run.device

    # The data: every image decoded once, then batches from memory.
    data = training_data(cfg, limits, run.cache_dir)

    # The models: new, or where the checkpoint left them.
    ckpt_path = out / CKPT_FILE
    state = load_resumable(ckpt_path, cfg, data.data_hash) if run.resume else None
    m = build_models(cfg, device, d, run.channels_last)
    batches = Batches(data.images.to(device), cfg.batch, cfg.seed, d, labels=data.labels)
    p = restore(state, m, batches, cfg, d, device)

    fixed_z, fixed_c = fixed_noise(cfg), grid_classes(cfg.gan.cond)
    max_images = math.inf if limits.kimg is None else round(limits.kimg * 1000)
    deadline = math.inf if limits.minutes is None else time.monotonic() + limits.minutes * 60
    if d.is_main:
        start_run_folder(run, d, data, m, new=state is None)

    def checkpoint() -> None:  # a collective: every rank calls it at the same step
        rngs = ddp.gather_objects(rng_state(device), d)
        if d.is_main:
            save_training_state(ckpt_path, training_state(m, cfg, p, batches, rngs,
                                                          data.data_hash))

    # The steps, until the images, the minutes or the user run out.
    bar = progress_bar(max_images, p.images_seen, d.is_main and run.show_progress)
    log_file = (out / "log.jsonl").open("a") if d.is_main else None
    last_ckpt = loop_start = time.monotonic()
    wall_before = p.wall_seconds
    interrupted = False
    try:
        with Interrupt() as interrupt:
            while p.images_seen < max_images:
                follow_ramp(m, cfg, p.images_seen)
                t0 = time.perf_counter()
                stats = train_step(m, cfg, batches, p.step, device, d, run.amp)
                dt = time.perf_counter() - t0
                p.step += 1
                p.images_seen += cfg.batch * cfg.n_critic
                p.train_seconds += dt
                p.wall_seconds = wall_before + time.monotonic() - loop_start
                rate = cfg.batch * cfg.n_critic / dt
                p.last = {k: stats[k] for k in ("loss_d", "loss_g", "d_real", "d_fake")}
                if log_file is not None:
                    record_step(log_file, bar, p, batches.epoch, rate, ramp_record(m, cfg),
                                cfg.batch * cfg.n_critic)
                    if stats["epoch_end"]:
                        save_grid(out / "grids" / f"epoch_{batches.epoch:04d}.png",
                                  draw(m.G, fixed_z, device, fixed_c))
                # One rank's clock or Ctrl-C decides for all: none enters a collective alone.
                now = time.monotonic()
                asked, out_of_time, ckpt_due = ddp.any_rank(
                    (interrupt.asked, now >= deadline,
                     now - last_ckpt > limits.ckpt_minutes * 60), d, device)
                if asked:
                    interrupted = True
                    break
                if out_of_time:
                    break
                if ckpt_due:
                    checkpoint()
                    last_ckpt = time.monotonic()
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()

    # Done: a checkpoint to resume from, then (rank 0) the scored export, drawn at the ramp's
    # value for all the images seen (the card records it).
    follow_ramp(m, cfg, p.images_seen)
    ddp.check_consistency(m.G, d, "G")
    ddp.check_consistency(m.D, d, "D")
    checkpoint()
    if interrupted:
        raise_interrupted(d, p, ckpt_path)
    if not d.is_main:
        return None
    return export(run, m, p, data)


def raise_interrupted(d: ddp.Dist, p: Progress, ckpt_path: Path) -> None:
    """Ctrl-C (or SIGTERM) after the checkpoint: say how to go on (rank 0), then stop."""
    if d.is_main:
        print(f"interrupted at {p.images_seen / 1000:.1f} kimg; checkpoint written to "
              f"{ckpt_path}; continue with the same command plus --resume", file=sys.stderr)
    raise KeyboardInterrupt


def start_run_folder(run: Run, d: ddp.Dist, data: Dataset, m: Models, new: bool) -> None:
    """Rank 0: the run folder with this run's options.json (a new run, --force over an old one
    included, starts its log.jsonl afresh), and one line saying what trains where."""
    cfg, out = run.cfg, run.out
    out.mkdir(parents=True, exist_ok=True)
    if new:
        (out / "log.jsonl").unlink(missing_ok=True)
    atomic_write_text(out / "options.json", json.dumps(
        {"config": cfg.to_dict(), "limits": asdict(run.limits), "resume": run.resume,
         "amp": run.amp, "channels_last": run.channels_last, "device": str(run.device),
         "world": d.world, "data_hash": data.data_hash,
         "images": len(data), "version": __version__}, indent=2) + "\n")
    log.info("training %s on %d images (%s) on %s, world %d; G %.2fM params, D %.2fM",
             cfg.preset, len(data), data.source, run.device, d.world,
             sum(t.numel() for t in m.G.parameters()) / 1e6,
             sum(t.numel() for t in m.D.parameters()) / 1e6)


def record_step(log_file: Any, bar: Any, p: Progress, epoch: int, rate: float,
                ramp: dict[str, float], images: int) -> None:
    """Rank 0, after each step: its line in log.jsonl and the progress bar's."""
    log_file.write(json.dumps({"step": p.step, "kimg": p.images_seen / 1000, "epoch": epoch,
                               **p.last, "img_s": round(rate, 1),
                               "t": round(p.train_seconds, 2), **ramp}) + "\n")
    bar.update(images / 1000)
    bar.set_postfix_str(f"{rate:.0f} img/s, D {p.last['loss_d']:.3f}, "
                        f"G {p.last['loss_g']:.3f}, ep {epoch}")


def training_data(cfg: TrainConfig, limits: RunLimits, cache_dir: Path | None) -> Dataset:
    """The images a run trains on: less the held-out groups, with each image's classes for a
    class-conditional run (from its file name, model.train.cond); a dry run's first handful."""
    data = load_dataset(cfg.data, cfg.gan.image_size, cache_dir, min_images=cfg.batch)
    if cfg.held_out > 0:
        data = without_held_out(data, cfg.held_out, cfg.batch)
    if cfg.gan.cond:
        data = with_labels(data, cfg.gan.cond)
    if limits.dry_run:
        keep = max(cfg.batch * 2, 16)
        data = Dataset(data.images[:keep], data.data_hash, data.source,
                       labels=None if data.labels is None else data.labels[:keep])
    return data


def follow_ramp(m: Models, cfg: TrainConfig, images_seen: int) -> None:
    """A class-conditional run's G, D and EMA copy set to the ramp's value for the images
    seen: a pure function of them, recomputed on resume, saved nowhere (model.train.cond)."""
    if cfg.gan.cond:
        set_cond_lambda((m.G, m.D, m.ema), cond_lambda(images_seen / 1000, cfg.cond_ramp))


def ramp_record(m: Models, cfg: TrainConfig) -> dict[str, float]:
    """The ramp's value a step trained with, for its log line; nothing when unconditional."""
    return {"cond_lambda": m.G.cond_lambda} if cfg.gan.cond else {}


def progress_bar(max_images: float, images_seen: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=None if max_images == math.inf else max_images / 1000,
                initial=images_seen / 1000, unit="kimg", disable=not enabled,
                dynamic_ncols=True, bar_format="{l_bar}{bar}| {n:.2f}/{total_fmt} kimg "
                "[{elapsed}<{remaining}{postfix}]")


class Interrupt:
    """Ctrl-C (or SIGTERM) asks the loop to stop after the current step and checkpoint."""

    def __init__(self) -> None:
        self.asked = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Interrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.asked:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.asked = True
        print("\nstopping after this step; writing a checkpoint (Ctrl-C again to abort)",
              file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

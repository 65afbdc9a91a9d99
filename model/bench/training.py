"""Training throughput: images/s of whole D + G steps as the trainer runs them, FLOPs per step
against this machine's matmul peak, the plain baseline, the speed levers and the quality race.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from model.bench.baseline import plain_dcgan
from model.bench.common import num_threads, sync
from model.errors import UserError
from model.serve.sampler import Sampler
from model.train.distributed import SINGLE
from model.train.options import channels_last_default, preset_config
from model.train.step import Batches, Models, build_models, train_step

PRESETS = ("classic-dcgan", "default", "fastgan")


def matmul_peak(device: torch.device, dtype: torch.dtype, budget_s: float = 0.5) -> float:
    """GFLOP/s of a square matmul in dtype: the ceiling the training step is measured against.

    Sized by a first 256 x 256 probe so that an emulated dtype (bf16 on a CPU without native
    bf16) costs a fraction of a second, not minutes; 2048 x 2048 where it is fast.
    """
    def rate(n: int, reps: int) -> tuple[float, float]:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        a @ b
        sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        dt = time.perf_counter() - t0
        return 2 * n**3 * reps / dt / 1e9, dt / reps

    gflops, per = rate(256, 1)
    n = 2048
    while n > 256 and per * (n / 256) ** 3 > budget_s / 4:
        n //= 2
    reps = max(1, min(10, int(budget_s / max(per * (n / 256) ** 3, 1e-6))))
    return rate(n, reps)[0] if n > 256 else gflops


def windows(step: Callable[[], object], device: torch.device, w: dict[str, int],
            images_per_step: int) -> float:
    """Median images/s over timed windows of several steps, after warm-up."""
    for _ in range(w["warmup"]):
        step()
    rates = []
    for _ in range(w["windows"]):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(w["steps"]):
            step()
        sync(device)
        rates.append(w["steps"] * images_per_step / (time.perf_counter() - t0))
    return statistics.median(rates)


@dataclass(frozen=True)
class Setup:
    """How one training measurement differs from `python -m model.train`'s defaults."""

    amp: bool = False  # the trainer's --amp auto is this machine's native_bf16
    channels_last: bool | None = None  # None: the trainer's default for the preset's arch
    adam: str = "foreach"  # torch's default; "fused" or "for-loop"
    set_to_none: bool = True  # the trainer's zero_grad
    threads: int | None = None  # None: torch's default (one per core)
    split_d: bool = False  # D on real and fake in two passes instead of one
    augment: bool = True
    ema: bool = True
    compiled: bool = False  # torch.compile on G and D


class TwoPasses(torch.nn.Module):
    """D run separately on the real and the fake half of a (2B, ...) batch, as with BatchNorm."""

    def __init__(self, d: torch.nn.Module, half: int):
        super().__init__()
        self.d, self.half = d, half

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] <= self.half:
            return self.d(x)
        return torch.cat([self.d(x[:self.half]), self.d(x[self.half:])])


def prepared_models(preset: str, device: torch.device, batch: int, s: Setup
                    ) -> tuple[Models, Any]:
    cfg = replace(preset_config(preset, "bench"), batch=batch)
    if not s.augment:
        cfg = replace(cfg, augment=())
    if not s.ema:
        cfg = replace(cfg, ema_beta=0.0)
    channels_last = (channels_last_default(cfg.gan) if s.channels_last is None
                     else s.channels_last)
    m = build_models(cfg, device, channels_last=channels_last)
    if s.adam != "foreach":
        kw = {"fused": True} if s.adam == "fused" else {"foreach": False}
        for name in ("opt_g", "opt_d"):
            group = getattr(m, name).param_groups[0]
            setattr(m, name, torch.optim.Adam(group["params"], lr=group["lr"],
                                              betas=group["betas"], **kw))
    if not s.set_to_none:
        for opt in (m.opt_g, m.opt_d):
            keep = opt.zero_grad
            opt.zero_grad = lambda set_to_none=True, keep=keep: keep(set_to_none=False)
    if s.split_d:
        m.D = TwoPasses(m.D, batch)  # type: ignore[assignment]
    if s.compiled:
        m.G, m.D = torch.compile(m.G), torch.compile(m.D)  # type: ignore[assignment]
    return m, cfg


def train_rate(preset: str, device: torch.device, batch: int, w: dict[str, int],
               s: Setup = Setup()) -> dict[str, float]:
    """images/s of the trainer's step under setup s, and the seconds its warm-up took."""
    with num_threads(s.threads):
        m, cfg = prepared_models(preset, device, batch, s)
        images = torch.randint(0, 256, (batch * 4, 3, 64, 64), dtype=torch.uint8, device=device)
        batches = Batches(images, batch, 0, SINGLE)
        counter = iter(range(10**9))

        def step() -> None:
            train_step(m, cfg, batches, next(counter), device, amp=s.amp)

        t0 = time.perf_counter()
        step()  # the first step alone: where torch.compile compiles
        first = time.perf_counter() - t0
        ips = windows(step, device, w, batch * cfg.n_critic)
    return {"images_per_s": ips, "first_step_s": first}


def step_flops(preset: str, device: torch.device, batch: int) -> float:
    """FLOPs of one training step (forward and backward of G and D), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    m, cfg = prepared_models(preset, device, batch, Setup())
    images = torch.randint(0, 256, (batch * 2, 3, 64, 64), dtype=torch.uint8, device=device)
    with FlopCounterMode(display=False) as counter:
        train_step(m, cfg, Batches(images, batch, 0, SINGLE), 0, device)
    return float(counter.get_total_flops())


def baseline_rate(folder: Path, device: torch.device, batch: int, w: dict[str, int],
                  workers: int) -> float:
    plain = plain_dcgan(folder, device, batch, workers)
    return windows(plain.step, device, w, batch)


@contextlib.contextmanager
def baseline_folder(quick: bool) -> Iterator[Path]:
    """The emoji people as the PNG files the baseline reads (random PNGs in quick mode)."""
    from model.data.emoji import BUILTIN, ensure_emoji_people
    from model.data.images import default_cache_dir

    if not quick:
        try:
            yield ensure_emoji_people(default_cache_dir() / BUILTIN)
            return
        except UserError as exc:  # no emoji font here: say so, measure on random pictures
            print(f"baseline on random PNGs: {exc}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        for i in range(256):
            Image.fromarray(rng.integers(0, 255, (136, 136, 3), dtype=np.uint8)).save(
                Path(tmp) / f"{i}.png")
        yield Path(tmp)


def lever_setups(native_bf16: bool, quick: bool) -> list[tuple[str, str, Setup]]:
    """(preset, label, setup): each lever flipped on its own against the trainer's defaults."""
    rows: list[tuple[str, str, Setup]] = []
    base = Setup(amp=native_bf16)  # --amp auto
    for preset in PRESETS:
        nhwc = channels_last_default(preset_config(preset, "bench").gan)
        rows += [(preset, "as model.train runs it", base),
                 (preset, f"channels_last {'off (NCHW)' if nhwc else 'on (NHWC)'}",
                  replace(base, channels_last=not nhwc)),
                 (preset, "Adam fused", replace(base, adam="fused")),
                 (preset, "Adam for-loop (not foreach)", replace(base, adam="for-loop")),
                 (preset, "zero_grad(set_to_none=False)", replace(base, set_to_none=False)),
                 (preset, "1 thread instead of one per core", replace(base, threads=1))]
        if native_bf16:
            rows.append((preset, "fp32 (no bf16 autocast)", replace(base, amp=False)))
        if not quick:  # compiling dwarfs the quick mode's windows: not in CI
            rows.append((preset, "torch.compile (G and D)", replace(base, compiled=True)))
    rows += [("default", "D in two passes (real, fake)", replace(base, split_d=True)),
             ("default", "no DiffAugment (its cost)", replace(base, augment=False)),
             ("default", "no EMA update (its cost)", replace(base, ema=False))]
    return rows


def bench_levers(device: torch.device, batch: int, w: dict[str, int], native_bf16: bool,
                 quick: bool) -> list[dict[str, Any]]:
    rows, shipped = [], {}
    for preset, label, setup in lever_setups(native_bf16, quick):
        try:
            r = train_rate(preset, device, batch, w, setup)
        except Exception as exc:  # a lever that does not run here is a finding, not a crash
            rows.append({"preset": preset, "lever": label, "error": f"{type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:120] if str(exc) else ''}"})
            print(f"  {preset:14s} {label:34s} failed: {rows[-1]['error']}")
            continue
        shipped.setdefault(preset, r["images_per_s"])
        effect = r["images_per_s"] / shipped[preset] - 1
        rows.append({"preset": preset, "lever": label, **r, "effect": effect})
        print(f"  {preset:14s} {label:34s} {r['images_per_s']:6.1f} images/s  {effect:+6.1%}"
              f"  (first step {r['first_step_s']:.1f} s)")
    return rows


def bench_quality(kimg: float, data: str, device: torch.device, workers: int, n: int
                  ) -> dict[str, Any]:
    """SWD of the plain baseline and of `model.train --preset classic-dcgan` after the same
    number of real images: the trainer's speed must cost nothing in quality."""
    from model.data.emoji import BUILTIN, ensure_emoji_people
    from model.data.images import default_cache_dir, load_dataset
    from model.evaluate.score import evaluate
    from model.train.loop import train
    from model.train.options import RunLimits

    folder = ensure_emoji_people(default_cache_dir() / BUILTIN) if data == BUILTIN else Path(data)
    dataset = load_dataset(data, 64)
    batch = 64 if len(dataset) >= 64 else 8
    steps = max(1, round(kimg * 1000 / batch))
    plain = plain_dcgan(folder, device, batch, workers)
    t0 = time.perf_counter()
    for _ in range(steps):
        plain.step()
    plain_s = time.perf_counter() - t0
    plain_score = evaluate(Sampler(plain.netG.eval(), {}, device), dataset.images, n)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = replace(preset_config("classic-dcgan", data), batch=batch)
        card = train(cfg, Path(tmp) / "run", RunLimits(kimg=steps * batch / 1000, eval_n=n,
                                                       ckpt_minutes=1e9),
                     device=device, show_progress=False)
    assert card is not None
    return {"kimg": steps * batch / 1000, "data": data, "samples": n,
            "plain": {"swd": plain_score["swd"], "train_seconds": plain_s},
            "trainer": {"swd": card["swd"], "train_seconds": card["train_seconds"]}}

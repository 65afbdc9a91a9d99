"""Throughput on this machine: training and generation.

    python -m model.bench                       # the table: training, generation
    python -m model.bench --levers              # plus each speed lever flipped on its own
    python -m model.bench --quality 20          # plus SWD after 20k images: trainer vs plain
    python -m model.bench --quick               # seconds (CI): same code, tiny windows
    python -m model.bench --json bench.json

Training: images/s of full D + G steps (batch 64, 64x64), the median of several timed windows
after warm-up, for `classic-dcgan`, `default` and `fastgan` as `python -m model.train` runs them
(fp32 and bf16 rows, and the default preset with the trainer's default flags: --amp auto), beside
the plain baseline (model.baseline: pytorch/examples/dcgan's DataLoader + PIL loop). The FLOPs
of one step (torch's FlopCounterMode) over its time give the achieved rate, set against this
machine's matmul peak measured in the same run. bf16 rows are measured only where bf16 is
native (CUDA, AVX512-BF16, AMX); elsewhere torch emulates it, far slower than fp32, and the row
says so. Generation: the generator in batches of 64, and (--levers) one latent through it under
each autograd mode and memory layout. The targets are checked and printed; nothing here asserts.
"""

from __future__ import annotations

import argparse
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

from model.baseline import plain_dcgan
from model.device import machine_description, pick_device
from model.distributed import SINGLE
from model.errors import UserError, run_cli
from model.figures import finish, judge, percentiles
from model.options import channels_last_default
from model.sampler import Sampler, to_uint8
from model.train import Batches, Models, build_models, preset_config, train_step

REPO = Path(__file__).resolve().parent.parent
PRESETS = ("classic-dcgan", "default", "fastgan")
TARGETS = {"classic_vs_baseline": 2.0, "default_vs_classic": 0.75}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@contextlib.contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def matmul_peak(device: torch.device, dtype: torch.dtype, budget_s: float = 0.5) -> float:
    """GFLOP/s of a square matmul in dtype: the ceiling the training step is measured against.

    Sized by a first 256 x 256 probe so that an emulated dtype (bf16 on a CPU without native
    bf16) costs a fraction of a second, not minutes; 2048 x 2048 where it is fast.
    """
    def rate(n: int, reps: int) -> tuple[float, float]:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        a @ b
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        _sync(device)
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
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(w["steps"]):
            step()
        _sync(device)
        rates.append(w["steps"] * images_per_step / (time.perf_counter() - t0))
    return statistics.median(rates)


# ---------------------------------------------------------------- training


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
    from model.data import BUILTIN, default_cache_dir, ensure_emoji_people

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


# ---------------------------------------------------------------- generation


def generation_sampler(weights: Path, device: torch.device) -> Sampler:
    """The shipped generator when there is one, else a random one of the default shape: its
    speed depends on the shape, not on what the weights learned."""
    if (weights / "generator.safetensors").is_file():
        return Sampler.load(weights, str(device))
    from model.networks import GANConfig, Generator

    g = Generator(GANConfig()).to(device, memory_format=torch.channels_last).eval()
    return Sampler(g, {}, device)


def bench_generator(g: torch.nn.Module, device: torch.device, z_dim: int, repeats: int,
                    mode: str) -> dict[str, float]:
    """One (1, z_dim) latent through G under grad, no_grad or inference_mode."""
    ctx = {"grad": contextlib.nullcontext, "no_grad": torch.no_grad,
           "inference_mode": torch.inference_mode}[mode]
    z = torch.randn(1, z_dim, device=device)
    times = []
    with ctx():
        for i in range(repeats + 3):
            _sync(device)
            t0 = time.perf_counter()
            to_uint8(g(z))
            _sync(device)
            if i >= 3:
                times.append(time.perf_counter() - t0)
    return percentiles(times)


def generator_levers(sampler: Sampler, device: torch.device, repeats: int
                     ) -> list[dict[str, Any]]:
    """One latent through G under each autograd mode, and in NCHW instead of channels_last."""
    import copy

    g = sampler.generator
    nchw = copy.deepcopy(g).to(memory_format=torch.contiguous_format)
    rows = [{"lever": f"generator alone, {mode}", **bench_generator(g, device, sampler.z_dim,
                                                                     repeats, mode)}
            for mode in ("inference_mode", "no_grad", "grad")]
    rows.append({"lever": "generator alone, inference_mode, NCHW",
                 **bench_generator(nchw, device, sampler.z_dim, repeats, "inference_mode")})
    for r in rows:
        print(f"  {r['lever']:44s} p50 {r['p50_ms']:6.2f} ms  p95 {r['p95_ms']:6.2f} ms")
    return rows


def bench_batch_generation(sampler: Sampler, device: torch.device, repeats: int) -> float:
    z = torch.randn(64, sampler.z_dim, device=device)
    with torch.inference_mode():
        sampler.generator(z)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            sampler.generator(z)
        _sync(device)
    return 64 * repeats / (time.perf_counter() - t0)


# ---------------------------------------------------------------- quality at equal images


def bench_quality(kimg: float, data: str, device: torch.device, workers: int, n: int
                  ) -> dict[str, Any]:
    """SWD of the plain baseline and of `model.train --preset classic-dcgan` after the same
    number of real images: the trainer's speed must cost nothing in quality."""
    from model.data import BUILTIN, default_cache_dir, ensure_emoji_people, load_dataset
    from model.evaluate import evaluate
    from model.train import RunLimits, train

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


# ---------------------------------------------------------------- CLI


def native_bf16(peak: dict[str, float]) -> bool:
    return peak["bfloat16"] > peak["float32"]


def check_targets(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The training targets against this run's figures (the best precision this machine ran:
    a skipped bf16 row counts for nothing)."""
    def best(preset: str) -> float:
        return max(r[f"train_{preset}_{p}"].get("images_per_s", 0.0) for p in ("fp32", "bf16"))

    return judge({"classic_vs_baseline": best("classic-dcgan") / r["train_baseline_images_per_s"],
                  "default_vs_classic": best("default") / best("classic-dcgan")}, TARGETS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny windows, for CI")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--levers", action="store_true",
                    help="also flip each speed lever on its own (training and generation)")
    ap.add_argument("--quality", type=float, default=None, metavar="KIMG",
                    help="also train the plain baseline and classic-dcgan for KIMG thousand "
                    "images each and compare their SWD")
    ap.add_argument("--quality-data", default="emoji-people",
                    help="an image folder, or emoji-people (the default)")
    ap.add_argument("--quality-n", type=int, default=1000, help="samples for the SWD")
    ap.add_argument("--workers", type=int, default=2, help="baseline DataLoader workers "
                    "(pytorch/examples' default is 2)")
    ap.add_argument("--weights", type=Path, default=REPO / "weights",
                    help="the generator whose generation is timed (a random one of the default "
                    "shape when the folder has none)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.batch < 1:
        raise UserError("--batch must be at least 1")
    if args.quality is not None and args.quality <= 0:
        raise UserError(f"--quality must be a positive number of kimg, got {args.quality}")
    device = pick_device(args.device)
    w = ({"warmup": 1, "windows": 1, "steps": 1} if args.quick
         else {"warmup": 3, "windows": 3, "steps": 8})
    lw = ({"warmup": 0, "windows": 1, "steps": 1} if args.quick
          else {"warmup": 2, "windows": 3, "steps": 5})
    machine = machine_description(device, capability=True)
    r: dict[str, Any] = {"device": str(device), "machine": machine, "torch": torch.__version__,
                         "batch": args.batch, "quick": args.quick}
    print(f"{machine}, torch {torch.__version__}, batch {args.batch}"
          f"{' (quick mode: not for quoting)' if args.quick else ''}")

    peak = {d: matmul_peak(device, getattr(torch, d), 0.1 if args.quick else 0.5)
            for d in ("float32", "bfloat16")}
    r["matmul_gflops"] = peak
    bf16 = native_bf16(peak)
    print(f"matmul peak: fp32 {peak['float32']:.0f} GFLOP/s, bf16 {peak['bfloat16']:.1f}"
          f"{'' if bf16 else ' (emulated: bf16 rows skipped)'}")

    with baseline_folder(args.quick) as folder:
        base = baseline_rate(folder, device, args.batch, w, args.workers)
    r["train_baseline_images_per_s"] = base
    print(f"{'plain baseline (DataLoader + PIL, fp32)':44s} {base:7.1f} images/s  1.00x")
    for preset in PRESETS:
        flops = step_flops(preset, device, args.batch)
        r[f"step_gflop_{preset}"] = flops / 1e9
        for amp in (False, True):
            key, name = f"train_{preset}_{'bf16' if amp else 'fp32'}", "bf16" if amp else "fp32"
            if amp and not bf16:
                r[key] = {"skipped": f"no native bf16 on {device.type} here: matmul "
                          f"{peak['bfloat16']:.1f} GFLOP/s against {peak['float32']:.0f} fp32"}
                continue
            ips = train_rate(preset, device, args.batch, w, Setup(amp=amp))["images_per_s"]
            achieved = flops * ips / args.batch / 1e9
            ref = peak["bfloat16" if amp else "float32"]
            r[key] = {"images_per_s": ips, "gflops": achieved, "of_peak": achieved / ref,
                      "vs_baseline": ips / base}
            print(f"{preset + ' ' + name:44s} {ips:7.1f} images/s {ips / base:5.2f}x  "
                  f"{achieved:5.0f} GFLOP/s = {achieved / ref:4.0%} of {name} peak")
        # what `python -m model.train` runs with its defaults (--amp auto) on this machine
        r[f"train_{preset}_auto"] = "bf16" if bf16 else "fp32"
    auto = r[f"train_default_{r['train_default_auto']}"]["images_per_s"]
    r["train_default_images_per_s"] = auto
    print(f"{'model.train default preset, default flags':44s} {auto:7.1f} images/s "
          f"(--amp auto: {r['train_default_auto']})")

    sampler = generation_sampler(args.weights, device)
    gen = bench_batch_generation(sampler, device, 2 if args.quick else 20)
    r["generate_batch64_images_per_s"] = gen
    print(f"generation in batches of 64: {gen:.0f} images/s")

    if args.levers:
        print("levers, each flipped on its own (effect against the first row of its preset):")
        r["levers"] = bench_levers(device, args.batch, lw, bf16, args.quick)
        r["generator_levers"] = generator_levers(sampler, device, 10 if args.quick else 200)

    if args.quality is not None:
        q = bench_quality(args.quality, args.quality_data, device, args.workers, args.quality_n)
        r["quality"] = q
        print(f"SWD x1e3 after {q['kimg']:.1f} kimg on {q['data']}: plain baseline "
              f"{q['plain']['swd']['mean']:.1f} ({q['plain']['train_seconds'] / 60:.1f} min), "
              f"model.train classic-dcgan {q['trainer']['swd']['mean']:.1f} "
              f"({q['trainer']['train_seconds'] / 60:.1f} min)")

    return finish(r, check_targets(r), args.json)


if __name__ == "__main__":
    run_cli(main)

"""Throughput: training images/s per preset, and generation latency, on this machine.

    python -m model.bench                       # both presets, CPU or CUDA, fp32
    python -m model.bench --amp bf16 --steps 30
    python -m model.bench --json bench.json

Training steps run on random pixels (speed does not depend on content) after a few warm-up
steps; a "step" is one full D + G update with a batch of real images, as in model.train.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from model.checkpoint import atomic_write_text
from model.distributed import SINGLE
from model.errors import UserError, run_cli
from model.sampler import pick_device
from model.train import PRESETS, Batches, build_models, preset_config, train_step


def bench_training(preset: str, device: torch.device, steps: int, warmup: int, batch: int,
                   amp: bool, loss: str | None = None) -> dict[str, float]:
    cfg = preset_config(preset, "bench", loss)
    cfg = replace(cfg, batch=batch)
    m = build_models(cfg, device)
    images = torch.randint(0, 256, (batch * 4, 3, cfg.gan.image_size, cfg.gan.image_size),
                           dtype=torch.uint8, device=device)
    batches = Batches(images, batch, 0, SINGLE)
    times = []
    for step in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        train_step(m, cfg, batches, step, device, amp=amp)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    per_step = statistics.median(times)
    return {"images_per_s": batch * cfg.n_critic / per_step, "step_ms": per_step * 1000}


@torch.inference_mode()
def bench_generation(device: torch.device, repeats: int) -> dict[str, float]:
    from model.networks import GANConfig, Generator

    g = Generator(GANConfig()).to(device).eval()
    out = {}
    for batch in (1, 64):
        z = torch.randn(batch, 40, device=device)
        g(z)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            g(z)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        out[f"batch{batch}_ms"] = statistics.median(times) * 1000
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=PRESETS, action="append", default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--amp", choices=("none", "bf16"), default="none")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.steps < 1 or args.batch < 1:
        raise UserError("--steps and --batch must be at least 1")
    device = pick_device(args.device)
    machine = (torch.cuda.get_device_name(device) if device.type == "cuda"
               else f"{platform.machine()}, {torch.get_num_threads()} threads")
    print(f"device {device} ({machine}), torch {torch.__version__}, batch {args.batch}, "
          f"amp {args.amp}")
    results: dict[str, object] = {"device": str(device), "machine": machine,
                                  "torch": torch.__version__, "batch": args.batch,
                                  "amp": args.amp}
    for preset in args.preset or list(PRESETS):
        r = bench_training(preset, device, args.steps, args.warmup, args.batch,
                           args.amp == "bf16")
        results[f"train_{preset}"] = r
        print(f"train {preset:14s} {r['images_per_s']:7.1f} images/s "
              f"({r['step_ms']:.0f} ms per step)")
    gen = bench_generation(device, repeats=max(5, args.steps))
    results["generate"] = gen
    print(f"generate 1 image {gen['batch1_ms']:.1f} ms, 64 images {gen['batch64_ms']:.1f} ms")
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    run_cli(main)

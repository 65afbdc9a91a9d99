"""Throughput on this machine: training and generation.

    python -m model.bench                       # the table: training, generation
    python -m model.bench --levers              # plus each speed lever flipped on its own
    python -m model.bench --quality 20          # plus SWD after 20k images: trainer vs plain
    python -m model.bench --quick               # seconds (CI): same code, tiny windows
    python -m model.bench --json bench.json

Training: images/s of full D + G steps (batch 64, 64x64), the median of several timed windows
after warm-up, for `classic-dcgan`, `default` and `fastgan` as `python -m model.train` runs them
(fp32 and bf16 rows, and the default preset with the trainer's default flags: --amp auto), beside
the plain baseline (model.bench.baseline: pytorch/examples/dcgan's DataLoader + PIL loop). The FLOPs
of one step (torch's FlopCounterMode) over its time give the achieved rate, set against this
machine's matmul peak measured in the same run. bf16 rows are measured only where bf16 is
native (CUDA, AVX512-BF16, AMX); elsewhere torch emulates it, far slower than fp32, and the row
says so. Generation: the generator in batches of 64, and (--levers) one latent through it under
each autograd mode and memory layout. The targets are checked and printed; nothing here asserts.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from model.bench.generation import bench_batch_generation, generation_sampler, generator_levers
from model.bench.training import (
    PRESETS,
    Setup,
    baseline_folder,
    baseline_rate,
    bench_levers,
    bench_quality,
    matmul_peak,
    step_flops,
    train_rate,
)
from model.device import machine_description, pick_device
from model.errors import UserError, run_cli
from model.figures import finish, judge

REPO = Path(__file__).resolve().parents[2]
TARGETS = {"classic_vs_baseline": 2.0, "default_vs_classic": 0.75}


def native_bf16(peak: dict[str, float]) -> bool:
    return peak["bfloat16"] > peak["float32"]


def check_targets(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The training targets against this run's figures (the best precision this machine ran:
    a skipped bf16 row counts for nothing)."""
    def best(preset: str) -> float:
        return max(r[f"train_{preset}_{p}"].get("images_per_s", 0.0) for p in ("fp32", "bf16"))

    return judge({"classic_vs_baseline": best("classic-dcgan") / r["train_baseline_images_per_s"],
                  "default_vs_classic": best("default") / best("classic-dcgan")}, TARGETS)


def train_rows(r: dict[str, Any], device: torch.device, batch: int, w: dict[str, int],
               peak: dict[str, float], base: float) -> None:
    """Each preset's training rate in fp32 and bf16 (bf16 skipped where it is emulated), its
    achieved FLOP/s against this machine's peak, and which one model.train's --amp auto picks."""
    bf16 = native_bf16(peak)
    for preset in PRESETS:
        flops = step_flops(preset, device, batch)
        r[f"step_gflop_{preset}"] = flops / 1e9
        for amp in (False, True):
            key, name = f"train_{preset}_{'bf16' if amp else 'fp32'}", "bf16" if amp else "fp32"
            if amp and not bf16:
                r[key] = {"skipped": f"no native bf16 on {device.type} here: matmul "
                          f"{peak['bfloat16']:.1f} GFLOP/s against {peak['float32']:.0f} fp32"}
                continue
            ips = train_rate(preset, device, batch, w, Setup(amp=amp))["images_per_s"]
            achieved = flops * ips / batch / 1e9
            ref = peak["bfloat16" if amp else "float32"]
            r[key] = {"images_per_s": ips, "gflops": achieved, "of_peak": achieved / ref,
                      "vs_baseline": ips / base}
            print(f"{preset + ' ' + name:44s} {ips:7.1f} images/s {ips / base:5.2f}x  "
                  f"{achieved:5.0f} GFLOP/s = {achieved / ref:4.0%} of {name} peak")
        # what `python -m model.train` runs with its defaults (--amp auto) on this machine
        r[f"train_{preset}_auto"] = "bf16" if bf16 else "fp32"


def build_parser() -> argparse.ArgumentParser:
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
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
    train_rows(r, device, args.batch, w, peak, base)
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

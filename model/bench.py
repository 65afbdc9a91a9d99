"""Throughput on this machine: training, a reply image, batch generation, bot start-up.

    python -m model.bench                       # the full table, fp32 and bf16
    python -m model.bench --quick               # seconds (CI): same code, tiny windows
    python -m model.bench --json bench.json

Training: images/s of full D + G steps (batch 64, 64x64), the median of several timed windows
after warm-up, for `classic-dcgan` and `default`, beside a plain baseline: the same classic
networks trained the way pytorch/examples/dcgan does (a folder read through a DataLoader that
decodes and resizes every image with PIL every step, fp32, separate real and fake passes).
The FLOPs of one step (counted by torch's FlopCounterMode) over its time give the achieved
rate, compared with this machine's measured matmul peak. Serving: one reply image end to end
(latent, generator, 4x Lanczos upscale, PNG encode) p50 and p95; generation in batches of 64;
`python -m bot` from process start to its first poll.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from model.checkpoint import atomic_write_text
from model.distributed import SINGLE
from model.errors import UserError, run_cli
from model.networks import GANConfig, Generator
from model.sampler import pick_device, render_png
from model.train import Batches, Models, build_models, preset_config, train_step

REPO = Path(__file__).resolve().parent.parent


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 2048, reps: int = 10
                ) -> float:
    """GFLOP/s of an n x n matmul in dtype: the ceiling the training step is measured against."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def windows(step: Any, device: torch.device, warmup: int, n_windows: int,
            steps_per_window: int, images_per_step: int) -> float:
    """Median images/s over timed windows of several steps, after warm-up."""
    for _ in range(warmup):
        step()
    rates = []
    for _ in range(n_windows):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(steps_per_window):
            step()
        _sync(device)
        rates.append(steps_per_window * images_per_step / (time.perf_counter() - t0))
    return statistics.median(rates)


def apply_levers(m: Models, channels_last: bool, fused_adam: bool) -> None:
    if channels_last:
        m.G.to(memory_format=torch.channels_last)
        m.D.to(memory_format=torch.channels_last)
    if fused_adam:
        for name in ("opt_g", "opt_d"):
            old = getattr(m, name)
            group = old.param_groups[0]
            setattr(m, name, torch.optim.Adam(group["params"], lr=group["lr"],
                                              betas=group["betas"], fused=True))


def step_flops(preset: str, device: torch.device, batch: int) -> float:
    """FLOPs of one training step (forward and backward of G and D), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = replace(preset_config(preset, "bench"), batch=batch)
    m = build_models(cfg, device)
    images = torch.randint(0, 256, (batch * 2, 3, 64, 64), dtype=torch.uint8, device=device)
    batches = Batches(images, batch, 0, SINGLE)
    with FlopCounterMode(display=False) as counter:
        train_step(m, cfg, batches, 0, device)
    return float(counter.get_total_flops())


def bench_training(preset: str, device: torch.device, batch: int, amp: bool, w: dict[str, int],
                   channels_last: bool = False, fused_adam: bool = False) -> float:
    cfg = replace(preset_config(preset, "bench"), batch=batch)
    m = build_models(cfg, device)
    apply_levers(m, channels_last, fused_adam)
    images = torch.randint(0, 256, (batch * 4, 3, 64, 64), dtype=torch.uint8, device=device)
    batches = Batches(images, batch, 0, SINGLE)
    counter = iter(range(10**9))
    return windows(lambda: train_step(m, cfg, batches, next(counter), device, amp=amp),
                   device, w["warmup"], w["windows"], w["steps"], batch * cfg.n_critic)


# ---------------------------------------------------------------- the plain baseline


class FolderDataset(torch.utils.data.Dataset):
    """pytorch/examples' ImageFolder + Resize + CenterCrop + ToTensor + Normalize, in PIL."""

    def __init__(self, folder: Path, size: int = 64):
        self.paths = sorted(p for p in folder.rglob("*.png"))
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        with Image.open(self.paths[i]) as img:
            img = img.convert("RGB")
            w, h = img.size
            scale = self.size / min(w, h)
            img = img.resize((max(self.size, round(w * scale)), max(self.size, round(h * scale))),
                             Image.Resampling.BILINEAR)
            left, top = (img.width - self.size) // 2, (img.height - self.size) // 2
            img = img.crop((left, top, left + self.size, top + self.size))
            x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return (x - 0.5) / 0.5


def bench_baseline(folder: Path, device: torch.device, batch: int, w: dict[str, int],
                   workers: int) -> float:
    """pytorch/examples/dcgan's loop: three D passes, PIL decoding every step, fp32."""
    config = GANConfig(z_dim=100, d_norm="batch", spectral_norm=False)
    torch.manual_seed(0)
    from model.networks import Discriminator

    netG, netD = Generator(config).to(device), Discriminator(config).to(device)
    criterion = torch.nn.BCEWithLogitsLoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = torch.utils.data.DataLoader(FolderDataset(folder), batch_size=batch, shuffle=True,
                                         num_workers=workers, drop_last=True,
                                         persistent_workers=workers > 0)

    def batches():
        while True:
            yield from loader

    it = batches()

    def step() -> None:
        real = next(it).to(device)
        b = real.shape[0]
        netD.zero_grad()
        err_real = criterion(netD(real), torch.ones(b, device=device))
        err_real.backward()
        fake = netG(torch.randn(b, config.z_dim, device=device))
        err_fake = criterion(netD(fake.detach()), torch.zeros(b, device=device))
        err_fake.backward()
        optD.step()
        netG.zero_grad()
        criterion(netD(fake), torch.ones(b, device=device)).backward()
        optG.step()

    return windows(step, device, w["warmup"], w["windows"], w["steps"], batch)


def baseline_folder(quick: bool) -> tuple[Path, Any]:
    """The emoji people as PNG files (as the baseline reads them), or random PNGs."""
    from model.data import BUILTIN, default_cache_dir

    built = default_cache_dir() / BUILTIN
    if (built / "COMPLETE").is_file() and not quick:
        return built, nullcontext()
    tmp = tempfile.TemporaryDirectory()
    rng = np.random.default_rng(0)
    for i in range(256):
        Image.fromarray(rng.integers(0, 255, (136, 136, 3), dtype=np.uint8)).save(
            Path(tmp.name) / f"{i}.png")
    return Path(tmp.name), tmp


# ---------------------------------------------------------------- serving


def bench_reply(device: torch.device, repeats: int) -> dict[str, float]:
    """Latent -> generator -> 4x Lanczos -> PNG bytes, as bot.artist does, p50 / p95 in ms."""
    g = Generator(GANConfig()).to(device).eval()
    gen = torch.Generator().manual_seed(0)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 3):
            t0 = time.perf_counter()
            z = torch.randn(1, 40, generator=gen).to(device)
            image = g(z).float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()
            render_png(image[0], 4, "lanczos")
            if i >= 3:
                times.append(time.perf_counter() - t0)
    times.sort()
    return {"p50_ms": statistics.median(times) * 1000,
            "p95_ms": times[int(0.95 * (len(times) - 1))] * 1000}


def bench_batch_generation(device: torch.device, repeats: int) -> float:
    g = Generator(GANConfig()).to(device).eval()
    z = torch.randn(64, 40, device=device)
    with torch.inference_mode():
        g(z)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            g(z)
        _sync(device)
    return 64 * repeats / (time.perf_counter() - t0)


def bench_bot_startup(weights: Path) -> float | None:
    """Seconds from starting `python -m bot once` (local platform) to its first poll."""
    if not (weights / "generator.safetensors").is_file():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
        env.update(BOT_WEIGHTS_DIR=str(weights.resolve()), BOT_LOCAL__STDIN="false",
                   BOT_STATE_PATH=str(Path(tmp) / "s.db"), PYTHONPATH=str(REPO))
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "bot", "once"], cwd=tmp, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        elapsed = None
        for line in proc.stderr:
            if "first poll" in line:
                elapsed = time.perf_counter() - t0
                break
        proc.wait(timeout=120)
    return elapsed


# ---------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny windows, for CI")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--levers", action="store_true",
                    help="also measure channels_last and fused Adam on the default preset")
    ap.add_argument("--workers", type=int, default=2, help="baseline DataLoader workers "
                    "(pytorch/examples' default is 2)")
    ap.add_argument("--weights", type=Path, default=REPO / "weights")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.batch < 1:
        raise UserError("--batch must be at least 1")
    device = pick_device(args.device)
    w = ({"warmup": 1, "windows": 1, "steps": 1} if args.quick
         else {"warmup": 3, "windows": 3, "steps": 8})
    machine = (torch.cuda.get_device_name(device) if device.type == "cuda"
               else f"{_cpu_name()}, {torch.get_num_threads()} threads")
    r: dict[str, Any] = {"device": str(device), "machine": machine, "torch": torch.__version__,
                         "batch": args.batch, "quick": args.quick}
    print(f"{machine}, torch {torch.__version__}, batch {args.batch}"
          f"{' (quick mode: not for quoting)' if args.quick else ''}")

    peak = {d: matmul_peak(device, getattr(torch, d), 512 if args.quick else 2048)
            for d in ("float32", "bfloat16")}
    r["matmul_gflops"] = peak
    print(f"matmul peak: fp32 {peak['float32']:.0f} GFLOP/s, bf16 {peak['bfloat16']:.0f}")

    folder, holder = baseline_folder(args.quick)
    with holder:
        base = bench_baseline(folder, device, args.batch, w, args.workers)
    r["train_baseline_images_per_s"] = base
    print(f"{'plain baseline (DataLoader + PIL, fp32)':44s} {base:7.1f} images/s  1.00x")
    for preset in ("classic-dcgan", "default"):
        flops = step_flops(preset, device, args.batch)
        for amp in (False, True):
            ips = bench_training(preset, device, args.batch, amp, w)
            achieved = flops * ips / args.batch / 1e9
            ref = peak["bfloat16" if amp else "float32"]
            key = f"train_{preset}_{'bf16' if amp else 'fp32'}"
            r[key] = {"images_per_s": ips, "gflops": achieved, "of_peak": achieved / ref,
                      "vs_baseline": ips / base}
            print(f"{preset + (' bf16' if amp else ' fp32'):44s} {ips:7.1f} images/s "
                  f"{ips / base:5.2f}x  {achieved:5.0f} GFLOP/s = {achieved / ref:4.0%} of "
                  f"{'bf16' if amp else 'fp32'} peak")
        r[f"step_gflop_{preset}"] = flops / 1e9
    if args.levers:
        for name, kw in (("channels_last", {"channels_last": True}),
                         ("fused Adam", {"fused_adam": True})):
            ips = bench_training("default", device, args.batch, False, w, **kw)
            r[f"lever_{name.replace(' ', '_')}"] = ips
            print(f"{'default fp32 + ' + name:44s} {ips:7.1f} images/s")

    reply = bench_reply(device, 10 if args.quick else 100)
    r["reply_image_ms"] = reply
    gen = bench_batch_generation(device, 2 if args.quick else 20)
    r["generate_batch64_images_per_s"] = gen
    startup = bench_bot_startup(args.weights)
    r["bot_startup_to_first_poll_s"] = startup
    print(f"one reply image (latent, G, 4x Lanczos, PNG): p50 {reply['p50_ms']:.1f} ms, "
          f"p95 {reply['p95_ms']:.1f} ms")
    print(f"generation in batches of 64: {gen:.0f} images/s")
    shown = f"{startup:.2f} s" if startup is not None else f"skipped (no {args.weights})"
    print(f"python -m bot start-up to first poll: {shown}")
    if args.json:
        atomic_write_text(args.json, json.dumps(r, indent=2) + "\n")
    return 0


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    run_cli(main)

"""Generation throughput: the generator in batches, and one latent under each autograd mode and
memory layout.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import torch

from model.bench.common import sync
from model.figures import percentiles
from model.serve.pictures import to_uint8
from model.serve.sampler import Sampler


def generation_sampler(weights: Path, device: torch.device) -> Sampler:
    """The shipped generator when there is one, else a random one of the default shape: its
    speed depends on the shape, not on what the weights learned."""
    if (weights / "generator.safetensors").is_file():
        return Sampler.load(weights, str(device))
    from model.nets.config import GANConfig
    from model.nets.dcgan import Generator

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
            sync(device)
            t0 = time.perf_counter()
            to_uint8(g(z))
            sync(device)
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
        sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            sampler.generator(z)
        sync(device)
    return 64 * repeats / (time.perf_counter() - t0)

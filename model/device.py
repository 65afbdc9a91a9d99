"""Where the tensors run: the device to use, and what the CPU can do.

One place for what the trainer, the benchmarks and the sampler ask of the machine: CUDA when
present, whether bf16 is native on this CPU (AVX512-BF16 or AMX; without either PyTorch
emulates it, far slower than fp32), and the CPU's name for model cards and benchmark reports.
"""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from model.errors import UserError


def pick_device(preference: str = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cuda' without a GPU is a UserError."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but PyTorch sees no GPU; use --device cpu")
    if preference not in ("cpu",) and not preference.startswith("cuda"):
        raise UserError(f"unknown device {preference!r}; use auto, cpu or cuda")
    return torch.device(preference)


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: without either, bf16 matmuls are emulated, slower than fp32."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


AMP_CHOICES = ("auto", "none", "bf16")


def use_bf16(choice: str, device: torch.device) -> bool:
    """Whether to train under bf16 autocast: 'auto' where the hardware runs bf16 natively
    (a CUDA GPU that supports it; a CPU with AVX512-BF16 or AMX), never where it would be
    emulated; 'bf16' on a CPU without native support is a UserError (about 100x slower)."""
    if choice not in AMP_CHOICES:
        raise UserError(f"unknown --amp {choice!r}; use {', '.join(AMP_CHOICES)}")
    if choice == "none":
        return False
    native = (torch.cuda.is_bf16_supported() if device.type == "cuda"
              else cpu_has_native_bf16())
    if choice == "bf16" and not native and device.type == "cpu":
        raise UserError("--amp bf16: this CPU has no native bf16 (AVX512-BF16 or AMX) and "
                        "would run bf16 about 100x slower than fp32; use --amp auto or none")
    return native or choice == "bf16"


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform module knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_description(device: torch.device, capability: bool = False) -> str:
    """'AMD EPYC ..., 2 CPU threads' or 'NVIDIA H100 (CUDA)': for cards and reports;
    capability adds the instruction set torch uses (AVX2, AVX512...), for benchmarks."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    isa = f", {torch.backends.cpu.get_cpu_capability()}" if capability else ""
    return f"{cpu_name()}, {torch.get_num_threads()} CPU threads{isa}"

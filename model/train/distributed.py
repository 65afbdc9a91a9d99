"""Data-parallel training from the torchrun environment (gloo on CPU, NCCL on CUDA).

Gradients are averaged by hand after each backward (one all-reduce of all of a module's
gradients, flattened), rather than by wrapping modules in DistributedDataParallel, which is what
NVlabs' stylegan2-ada-pytorch does (its training_loop.py wraps each module in DDP): by hand, the
gradient penalty's double backward and the per-phase ``requires_grad`` switches need no special
cases (DDP's reducer expects one backward per forward, and unused parameters declared), and the
raw modules are what every rank steps. Ranks start from identical weights (same init seed,
then a broadcast from rank 0) and stay identical because they apply identical averaged steps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Dist()  # one process, no process group


def from_env(device_type: str) -> Dist:
    """Join the process group when torchrun set RANK/WORLD_SIZE; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return Dist(rank, world, local_rank)


def shutdown(d: Dist, together: bool = True) -> None:
    """Leave the process group. together: first wait until every rank is here (rank 0 exports
    after the others are done): a rank that tears gloo down while a peer still holds its
    connections can die in gloo's C++ teardown ("terminate called without an active
    exception", SIGABRT), which torchrun reports as a failed run."""
    if not (d.enabled and dist.is_initialized()):
        return
    if together:
        dist.barrier()
    dist.destroy_process_group()


def broadcast_module(module: nn.Module, d: Dist) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not d.enabled:
        return
    for t in [*module.parameters(), *module.buffers()]:
        dist.broadcast(t.data, src=0)


def average_gradients(module: nn.Module, d: Dist) -> None:
    """Average .grad over ranks, in one flat all-reduce."""
    if not d.enabled:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.flatten() for p in params])
    dist.all_reduce(flat)
    flat /= d.world
    for p, g in zip(params, flat.split([p.numel() for p in params]), strict=True):
        p.grad.copy_(g.view_as(p))


def average_batchnorm_stats(module: nn.Module, d: Dist) -> None:
    """Average BatchNorm running statistics, which each rank collects from its own batches."""
    if not d.enabled:
        return
    stats = [b for name, b in module.named_buffers()
             if name.endswith(("running_mean", "running_var"))]
    if not stats:
        return
    flat = torch.cat([b.flatten() for b in stats])
    dist.all_reduce(flat)
    flat /= d.world
    for b, v in zip(stats, flat.split([b.numel() for b in stats]), strict=True):
        b.copy_(v.view_as(b))


def any_rank(flags: tuple[bool, ...], d: Dist, device: torch.device) -> tuple[bool, ...]:
    """Each flag, set when it is set on any rank, in one all-reduce.

    Every decision that leads to a collective (stop now, write a checkpoint) must be taken
    the same on all ranks: a clock read on each rank can fall either side of a deadline, and
    one rank gathering for a checkpoint while another all-reduces gradients deadlocks or
    aborts gloo.
    """
    if not d.enabled:
        return flags
    t = torch.tensor([1.0 if f else 0.0 for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in t.tolist())


def gather_objects(obj: object, d: Dist) -> list[object]:
    if not d.enabled:
        return [obj]
    out: list[object] = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def check_consistency(module: nn.Module, d: Dist, name: str) -> None:
    """Fail loudly if ranks drifted apart (they must apply identical steps)."""
    if not d.enabled:
        return
    with torch.no_grad():
        flat = torch.cat([p.detach().double().flatten() for p in module.parameters()])
        checksum = (flat.sum().item(), flat.abs().sum().item())
    sums = gather_objects(checksum, d)
    if any(s != sums[0] for s in sums):
        raise RuntimeError(f"{name} differs between ranks after training: {sums}")

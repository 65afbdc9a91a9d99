"""What both halves of the benchmark share: synchronising a device and a thread count for a
block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


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

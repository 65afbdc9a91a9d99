"""What both halves of the benchmark share: synchronising a device and a thread count for a
block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timer stops when the work is done."""
    if device.type == "cuda":
        torch.cuda.synchronize()


@contextlib.contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads set to n (None: unchanged) for the block, then restored."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)

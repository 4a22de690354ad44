"""A temporary torch intra-op thread count for CPU work made of many small operations (private)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["torch_threads"]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (None: unchanged), then restore the old count.

    Chains of small memory-bound tensor operations (voxel-wise fits, chunked matching) gain
    little from a second thread on an idle machine but slow down 4-20x when the cores are shared
    (each operation waits at an OpenMP barrier for a descheduled thread).
    """
    if n is None or n == torch.get_num_threads():
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)

"""Centred orthonormal 2D FFTs at the numpy boundary (torch inside; np.fft is single-threaded)."""

from __future__ import annotations

import numpy as np
import torch

from recon_engine.operators.fft import centered_fft, centered_ifft

__all__ = ["fft2c", "ifft2c", "tensor"]


def tensor(a: np.ndarray | torch.Tensor) -> torch.Tensor:
    """complex64 tensor sharing memory with ``a`` where possible (read-only arrays are copied)."""
    if isinstance(a, torch.Tensor):
        return a.to(torch.complex64)
    arr = np.asarray(a, dtype=np.complex64)
    if not arr.flags.writeable or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr).copy()
    return torch.from_numpy(arr)


def fft2c(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """Image ``(*, y, x)`` → k-space ``(*, ky, kx)``, complex64 numpy."""
    return centered_fft(tensor(image), 2).numpy()


def ifft2c(kspace: np.ndarray | torch.Tensor) -> np.ndarray:
    """k-space ``(*, ky, kx)`` → image ``(*, y, x)``, complex64 numpy."""
    return centered_ifft(tensor(kspace), 2).numpy()

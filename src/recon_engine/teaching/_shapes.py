"""Shape checks and centred index helpers shared by the mask and window modules."""

from __future__ import annotations

import math

from recon_engine.errors import ParameterError

__all__ = ["centre_block", "check_shape", "fraction", "kept"]


def check_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) != 2 or min(int(s) for s in shape) < 2:
        raise ParameterError(f"a k-space mask needs a 2D shape (ky, kx) of at least 2 × 2, got {shape!r}")
    return int(shape[0]), int(shape[1])


def centre_block(n: int, width: int) -> slice:
    start = n // 2 - width // 2
    return slice(start, start + width)


def fraction(value: float, name: str) -> float:
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise ParameterError(f"{name} resolution must be a fraction in (0, 1], got {value!r}")
    return float(value)


def kept(n: int, fraction: float) -> int:
    return max(2, min(n, round(fraction * n)))

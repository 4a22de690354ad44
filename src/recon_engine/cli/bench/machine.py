"""The bounds of this machine: FFT throughput, memory bandwidth, BLAS GFLOP/s (torch, CPU or CUDA).

``python -m recon_engine.cli.bench.machine [--device cpu] [--json]``. Each figure is the best
of several repeats (a shared machine's other load only slows a run down):

- **FFT**: 16 × 256² complex64 2D FFTs (``torch.fft.fft2``), reported as time per batch and
  GFLOP/s with the usual ``5 N log₂ N`` flop count; also one 128³ 3D FFT × 8 coils.
- **Memory bandwidth**: ``y.copy_(x)`` of 256 MiB float32 arrays (read + write bytes / s)
  and a complex64 multiply-add over 16 × 256² (the inner step of the coil operator).
- **BLAS**: 2048² float32 ``matmul`` and 4096 × 500 by 500 × 4096 complex64 (the MRF
  matching shape), GFLOP/s (``2mnk``, ×4 for complex).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable

import torch

from recon_engine.device import resolve_device

__all__ = ["machine_bounds"]


def _best(fn: Callable[[], object], device: torch.device, repeats: int = 7) -> float:
    fn()
    best = math.inf
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t)
    return best


def machine_bounds(device: str = "cpu") -> dict[str, float]:
    """Measure the figures listed in the module docstring.

    Returns
    -------
    dict[str, float]
        ``fft2_16x256_s``, ``fft2_gflops``, ``fft3_8x128_s``, ``fft3_gflops``,
        ``copy_gbps``, ``cmul_16x256_s``, ``cmul_gbps``, ``sgemm_gflops``, ``cgemm_gflops``,
        ``threads``.
    """
    dev = resolve_device(device)
    g = torch.Generator(device="cpu").manual_seed(0)
    out: dict[str, float] = {"threads": float(torch.get_num_threads())}

    x = torch.randn(16, 256, 256, dtype=torch.complex64, generator=g).to(dev)
    t = _best(lambda: torch.fft.fft2(x), dev)
    n = 256 * 256
    out["fft2_16x256_s"] = t
    out["fft2_gflops"] = 16 * 5 * n * math.log2(n) / t / 1e9

    v = torch.randn(8, 128, 128, 128, dtype=torch.complex64, generator=g).to(dev)
    t = _best(lambda: torch.fft.fftn(v, dim=(-3, -2, -1)), dev, repeats=3)
    n = 128**3
    out["fft3_8x128_s"] = t
    out["fft3_gflops"] = 8 * 5 * n * math.log2(n) / t / 1e9

    src = torch.empty(64 * 2**20, dtype=torch.float32, device=dev).fill_(1.0)
    dst = torch.empty_like(src)
    t = _best(lambda: dst.copy_(src), dev)
    out["copy_gbps"] = 2 * src.numel() * 4 / t / 1e9

    maps = torch.randn(16, 256, 256, dtype=torch.complex64, generator=g).to(dev)
    img = torch.randn(1, 256, 256, dtype=torch.complex64, generator=g).to(dev)
    t = _best(lambda: maps * img, dev)
    out["cmul_16x256_s"] = t
    out["cmul_gbps"] = (2 * maps.numel() + img.numel()) * 8 / t / 1e9

    m = torch.randn(2048, 2048, generator=g).to(dev)
    t = _best(lambda: m @ m, dev, repeats=3)
    out["sgemm_gflops"] = 2 * 2048**3 / t / 1e9

    s = torch.randn(4096, 500, dtype=torch.complex64, generator=g).to(dev)
    d = torch.randn(500, 4096, dtype=torch.complex64, generator=g).to(dev)
    t = _best(lambda: s @ d, dev, repeats=3)
    out["cgemm_gflops"] = 8 * 4096 * 500 * 4096 / t / 1e9
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the bounds (text or JSON)."""
    p = argparse.ArgumentParser(prog="python -m recon_engine.cli.bench.machine", description=__doc__)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    res = machine_bounds(args.device)
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        for k, v in res.items():
            print(f"{k:16s} {v:.4g}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

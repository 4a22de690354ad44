"""GRAPPA kernels: calibration from a fully sampled block and filling of regular undersampling.

GRAPPA (Griswold et al. 2002, doi:10.1002/mrm.10171) estimates every missing k-space
sample of coil ``c`` as a linear combination of acquired samples of all coils in a
neighbourhood. With regular undersampling by ``R1`` along ``k1`` (and ``R2`` along ``k2``)
the acquired points form a lattice; one kernel geometry covers every missing point:

- **sources**: ``Nz × Ny`` acquired lines at k-space offsets ``(dz·R2, dy·R1)``
  (``dz < Nz``, ``dy < Ny``) times ``Nx`` neighbouring readout samples;
- **targets**: the ``R1·R2 − 1`` missing points of the block between the central sources,
  at offsets ``(cz·R2 + t2, cy·R1 + t1)`` with ``c = (N − 1) // 2`` and
  ``(t2, t1) ≠ (0, 0)``, at the central readout sample ``Nx // 2``.

Calibration solves the Tikhonov-regularised least-squares problem
``W = argmin ‖A W − B‖² + λ‖W‖²`` in the normal equations ``(AᴴA + λI) W = AᴴB``
(complex128), where each row of ``A`` holds the source samples and each row of ``B``
the target samples of one kernel position inside the calibration block, and
``λ = regularization · tr(AᴴA) / n`` (``n`` unknowns per target: relative to the mean
squared singular value of ``A``); at most :data:`MAX_FITS_PER_UNKNOWN` kernel positions
per unknown enter (evenly spaced along the readout), which bounds the cost for large 3D
calibration regions. Filling is one strided complex convolution of the
acquired lattice with ``W`` (:func:`grappa_fill`), so no loop runs over lines.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from recon_engine.errors import DataError, ParameterError

__all__ = ["MAX_FITS_PER_UNKNOWN", "GrappaKernel", "grappa_fill", "grappa_weights", "kernel_span"]

_MAX_ROWS_ELEMENTS = 2**24  # elements of one chunk of the calibration matrix A
#: At most this many kernel fits per unknown weight enter the calibration (evenly spaced
#: readout positions); more change the weights by far less than the noise does.
MAX_FITS_PER_UNKNOWN = 50


@dataclass(frozen=True)
class GrappaKernel:
    """Calibrated GRAPPA weights and their geometry.

    Attributes
    ----------
    weights
        complex64 ``(targets · coils, coils, Nz, Ny, Nx)``: a convolution kernel over the
        acquired lattice ``(coils, k2 / R2, k1 / R1, k0)``; output channel ``t · coils + c``
        is coil ``c`` at target ``t`` of :attr:`targets`.
    acceleration
        ``(R1, R2)``: undersampling along ``k1`` and ``k2``.
    kernel_size
        ``(Nz, Ny, Nx)``: source partitions, source lines, readout samples.
    """

    weights: torch.Tensor
    acceleration: tuple[int, int]
    kernel_size: tuple[int, int, int]

    @property
    def targets(self) -> list[tuple[int, int]]:
        """Target offsets ``(t2, t1)`` within a block of ``R2 × R1`` points, in weight order."""
        return _targets(self.acceleration)

    @property
    def centre(self) -> tuple[int, int]:
        """``(cz, cy)``: the block of the targets starts at source partition ``cz`` and line ``cy``."""
        return (self.kernel_size[0] - 1) // 2, (self.kernel_size[1] - 1) // 2


def _targets(acceleration: tuple[int, int]) -> list[tuple[int, int]]:
    r1, r2 = acceleration
    return [(t2, t1) for t2 in range(r2) for t1 in range(r1) if (t2, t1) != (0, 0)]


def _check_geometry(acceleration: Sequence[int], kernel_size: Sequence[int]) -> tuple[int, int, int]:
    if len(acceleration) != 2 or any(int(r) != r or r < 1 for r in acceleration):
        raise ParameterError(f"acceleration must be two integers (R1, R2) ≥ 1, got {tuple(acceleration)}")
    if len(kernel_size) not in (2, 3) or any(int(k) != k or k < 1 for k in kernel_size):
        raise ParameterError(
            "kernel_size must be (source lines, readout samples) or (source partitions, source lines, "
            f"readout samples), each ≥ 1; got {tuple(kernel_size)}"
        )
    ks = [int(k) for k in kernel_size]
    return (1, ks[0], ks[1]) if len(ks) == 2 else (ks[0], ks[1], ks[2])


def kernel_span(acceleration: tuple[int, int], kernel_size: Sequence[int]) -> tuple[int, int, int]:
    """Extent ``(k2, k1, k0)`` of k-space that one kernel (sources and targets) covers.

    Parameters
    ----------
    acceleration
        ``(R1, R2)``.
    kernel_size
        ``(Ny, Nx)`` or ``(Nz, Ny, Nx)``.

    Returns
    -------
    tuple of int
        ``((Nz−1)·R2 + 1, (Ny−1)·R1 + 1, Nx)`` for ``N ≥ 2``; a single source line reaches
        ``R`` lines (it extrapolates to the targets that follow it).
    """
    nz, ny, nx = _check_geometry(acceleration, kernel_size)
    r1, r2 = acceleration

    def span(n: int, r: int) -> int:
        c = (n - 1) // 2
        return max((n - 1) * r, c * r + r - 1) + 1

    return span(nz, r2) if r2 > 1 else nz, span(ny, r1), nx


def _system_chunk(
    calib: torch.Tensor,
    acceleration: tuple[int, int],
    kernel_size: tuple[int, int, int],
    counts: tuple[int, int],
    x_range: tuple[int, int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``A`` (sources) and ``B`` (targets) for kernel origins at readout ``range(*x_range)``."""
    r1, r2 = acceleration
    nz, ny, nx = kernel_size
    pz, py = counts
    x0, x1, step = x_range
    n_x = len(range(x0, x1, step))
    cz, cy = (nz - 1) // 2, (ny - 1) // 2
    win = calib[..., x0 : x1 + nx - 1].unfold(-1, nx, 1)[..., ::step, :]  # (C, Z, Y, nxc, Nx)
    sources = [
        win[:, dz * r2 : dz * r2 + pz, dy * r1 : dy * r1 + py] for dz in range(nz) for dy in range(ny)
    ]  # each (C, pz, py, nxc, Nx)
    a = torch.stack(sources, dim=1)  # (C, S, pz, py, nxc, Nx)
    a = a.permute(2, 3, 4, 0, 1, 5).reshape(pz * py * n_x, -1)
    h = nx // 2
    tz0, ty0 = cz * r2, cy * r1
    tgt = [
        calib[:, tz0 + t2 : tz0 + t2 + pz, ty0 + t1 : ty0 + t1 + py, x0 + h : x1 + h : step]
        for t2, t1 in _targets(acceleration)
    ]  # each (C, pz, py, nxc)
    b = torch.stack(tgt, dim=0).permute(2, 3, 4, 0, 1).reshape(pz * py * n_x, -1)
    return a, b


def grappa_weights(
    calib: torch.Tensor,
    acceleration: Sequence[int] = (2, 1),
    *,
    kernel_size: Sequence[int] = (4, 5),
    regularization: float = 1e-4,
) -> GrappaKernel:
    """Calibrate GRAPPA weights on a fully sampled block of k-space (the ACS region).

    Parameters
    ----------
    calib
        complex ``(coils, k1, k0)`` or ``(coils, k2, k1, k0)``: the fully sampled
        calibration block (autocalibration signal), on the compute device.
    acceleration
        ``(R1, R2)``: undersampling factor along ``k1`` and along ``k2`` (``R2 = 1`` for
        1D acceleration).
    kernel_size
        ``(Ny, Nx)`` (source lines × readout samples, e.g. ``(4, 5)``) or
        ``(Nz, Ny, Nx)`` with ``Nz`` source partitions for 2D acceleration.
    regularization
        Tikhonov weight relative to the mean eigenvalue of ``AᴴA``
        (``λ = regularization · tr(AᴴA) / n``); ``0`` for plain least squares.

    Returns
    -------
    GrappaKernel
        complex64 weights ``(targets · coils, coils, Nz, Ny, Nx)`` on ``calib``'s device.

    Raises
    ------
    ParameterError
        When the calibration block is smaller than the kernel span, for impossible
        factors or kernel sizes, or a negative regularization.

    Warns
    -----
    UserWarning
        When the block holds fewer kernel positions than unknown weights per target.
    """
    if calib.ndim == 3:
        calib = calib.unsqueeze(1)
    if calib.ndim != 4 or not calib.is_complex():
        raise ParameterError(
            f"calibration data must be complex (coils, k1, k0) or (coils, k2, k1, k0), got "
            f"{tuple(calib.shape)} {calib.dtype}"
        )
    if not regularization >= 0:
        raise ParameterError(f"regularization must be ≥ 0, got {regularization}")
    accel = (int(acceleration[0]), int(acceleration[1])) if len(acceleration) == 2 else (0, 0)
    ks = _check_geometry(accel, kernel_size)
    if ks[0] > 1 and accel[1] == 1 and calib.shape[1] == 1:
        raise ParameterError(f"a kernel over {ks[0]} partitions needs 3D calibration data (k2 > 1)")
    n_coils, n2, n1, n0 = calib.shape
    span = kernel_span(accel, ks)
    if n1 < span[1] or n2 < span[0] or n0 < span[2]:
        raise ParameterError(
            f"the calibration region ({n1} lines k1 × {n2} partitions k2 × {n0} readout samples) is "
            f"smaller than the GRAPPA kernel: {ks[1]} source lines at R = {accel[0]}"
            + (f" and {ks[0]} source partitions at R2 = {accel[1]}" if accel[1] > 1 else "")
            + f" span {span[1]} lines × {span[0]} partitions × {span[2]} samples; acquire more "
            "calibration (ACS) lines or use a smaller kernel"
        )
    if len(_targets(accel)) == 0:
        raise ParameterError("acceleration (1, 1): nothing to fill, GRAPPA needs R1·R2 > 1")
    counts = (n2 - span[0] + 1, n1 - span[1] + 1)
    n_x = n0 - ks[2] + 1
    n_unknowns = n_coils * ks[0] * ks[1] * ks[2]
    if counts[0] * counts[1] * n_x < n_unknowns:
        warnings.warn(
            f"the GRAPPA calibration is underdetermined: {counts[0] * counts[1] * n_x} kernel positions "
            f"in the calibration region for {n_unknowns} weights per target (coils × kernel), so the "
            "kernel rests on the regularization; acquire more calibration lines or use a smaller kernel",
            stacklevel=2,
        )
    step = max(1, math.ceil(counts[0] * counts[1] * n_x / (MAX_FITS_PER_UNKNOWN * n_unknowns)))
    chunk = step * max(1, _MAX_ROWS_ELEMENTS // max(1, counts[0] * counts[1] * n_unknowns))
    ata = torch.zeros(n_unknowns, n_unknowns, dtype=torch.complex128, device=calib.device)
    atb = torch.zeros(n_unknowns, n_coils * len(_targets(accel)), dtype=torch.complex128, device=calib.device)
    c128 = calib.to(torch.complex128)
    for x0 in range(0, n_x, chunk):
        a, b = _system_chunk(c128, accel, ks, counts, (x0, min(n_x, x0 + chunk), step))
        ah = a.mH
        ata += ah @ a
        atb += ah @ b
    lam = regularization * float(torch.diagonal(ata).real.sum()) / n_unknowns
    ata.diagonal().add_(lam)
    try:
        w = torch.linalg.solve(ata, atb)  # (n_unknowns, T·C)
    except torch.linalg.LinAlgError:
        raise DataError(
            "the GRAPPA calibration system is singular (calibration data all zero, or a dead coil?); "
            "use regularization > 0"
        ) from None
    weights = w.T.reshape(-1, n_coils, *ks).to(torch.complex64).contiguous()
    return GrappaKernel(weights=weights, acceleration=accel, kernel_size=ks)


def grappa_fill(data: torch.Tensor, kernel: GrappaKernel, offset: Sequence[int] = (0, 0)) -> torch.Tensor:
    """Fill the missing points of regularly undersampled k-space with a GRAPPA kernel.

    Parameters
    ----------
    data
        complex ``(coils, k1, k0)`` or ``(coils, k2, k1, k0)``; the acquired points lie on
        the lattice ``k1 ≡ o1 (mod R1)``, ``k2 ≡ o2 (mod R2)``; other values are ignored.
    kernel
        From :func:`grappa_weights` (same coils).
    offset
        ``(o1, o2)``: a line and a partition of the acquired lattice.

    Returns
    -------
    torch.Tensor
        complex64, the shape of ``data``: lattice points as acquired, every other point
        estimated (points near the k-space edges use zeros for sources beyond it).
    """
    squeeze = data.ndim == 3
    x = data.unsqueeze(1) if squeeze else data
    r1, r2 = kernel.acceleration
    nz, ny, nx = kernel.kernel_size
    n_coils, n2, n1, n0 = x.shape
    if kernel.weights.shape[1] != n_coils:
        raise ParameterError(
            f"the GRAPPA kernel is for {kernel.weights.shape[1]} coils, the data has {n_coils}"
        )
    if nz > 1 and n2 < 2 and r2 == 1:
        raise ParameterError("a kernel over several partitions needs 3D data")
    o1, o2 = int(offset[0]) % r1, int(offset[1]) % r2
    lattice = x[:, o2::r2, o1::r1, :].to(torch.complex64)  # (C, L2, L1, X)
    cz, cy = kernel.centre
    pre2, pre1 = int(o2 > 0), int(o1 > 0)  # a block before the first lattice point
    pad = (nx // 2, nx - 1 - nx // 2, pre1 + cy, ny - 1 - cy, pre2 + cz, nz - 1 - cz)
    out = F.conv3d(F.pad(lattice, pad).unsqueeze(0), kernel.weights.to(lattice.device))[0]
    n_t = len(kernel.targets)
    out = out.reshape(n_t, n_coils, *out.shape[1:])  # (T, C, B2, B1, X)
    b2, b1 = out.shape[2], out.shape[3]
    full = torch.zeros(n_coils, b2, r2, b1, r1, n0, dtype=torch.complex64, device=lattice.device)
    full[:, pre2:, 0, pre1:, 0, :] = lattice
    for i, (t2, t1) in enumerate(kernel.targets):
        full[:, :, t2, :, t1, :] = out[i]
    full = full.reshape(n_coils, b2 * r2, b1 * r1, n0)
    s2, s1 = pre2 * r2 - o2, pre1 * r1 - o1
    result = full[:, s2 : s2 + n2, s1 : s1 + n1, :]
    return result[:, 0] if squeeze else result

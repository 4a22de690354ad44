"""Partial Fourier: fill the missing side of asymmetrically sampled k-space.

With partial Fourier along ``k1``/``k2`` (fewer phase-encoding lines) or ``k0`` (asymmetric
echo), one side of k-space stops short of the edge. A real object ``ρ`` has Hermitian
k-space, ``s(-k) = s(k)*``; MR images are not real, but their phase ``φ`` is smooth and can be
estimated from the symmetrically sampled centre (a Hann-windowed band of ``2s + 1`` samples
along each asymmetric axis, all samples along the others). Both methods work per coil.

POCS (Haacke, Lindskog & Lin 1991): alternate the phase constraint ``x ← |x| e^{iφ}`` and
data consistency in k-space (acquired samples replaced by the measurement; samples whose
mirror image was not acquired either stay 0), ``iterations`` times. Handles several
asymmetric axes at once.

Homodyne (Noll, Nishimura & Macovski 1991): weight the acquired k-space with a ramp ``H``
that is 1 at the centre, 2 beyond the symmetric band on the long side and ``H(k) + H(-k) = 2``
across the band (linear), then ``ρ = Re(e^{-iφ} F⁻¹(H s))``. The filled k-space returned is
``F(ρ e^{iφ})``: the homodyne image with the low-resolution phase put back, so that coil
combination and SENSE still see consistent coil phases. One asymmetric axis only (with two,
``H(k) + H(-k) = 2`` cannot hold and the corner missing on both sides is lost: use POCS).

Both return k-space, like the input, so any reconstruction (direct, GRAPPA, SENSE) can follow.
Undersampled data (parallel imaging) must be unaliased first: the acquired range has to be
fully sampled.

References
----------
E. M. Haacke, E. D. Lindskog, W. Lin, "A fast, iterative, partial-Fourier technique capable
of local phase recovery", J. Magn. Reson. 92:126–145 (1991),
doi:10.1016/0022-2364(91)90253-P.
D. C. Noll, D. G. Nishimura, A. Macovski, "Homodyne detection in magnetic resonance imaging",
IEEE Trans. Med. Imaging 10:154–163 (1991), doi:10.1109/42.79473.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import overload

import torch

from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.operators.fft import centered_fft, centered_ifft

__all__ = ["homodyne", "partial_fourier_sampling", "pocs_partial_fourier"]

_AXES = ("k2", "k1", "k0")
_MIN_HALF_BAND = 2  # symmetric band of at least 2·2 + 1 samples for the phase estimate


@dataclass(frozen=True)
class _Axis:
    """Acquired range ``[lo, hi)`` of one k-space axis of ``n`` samples, centre ``n // 2``."""

    name: str
    n: int
    lo: int
    hi: int

    @property
    def below(self) -> int:
        return self.n // 2 - self.lo

    @property
    def above(self) -> int:
        return self.hi - 1 - self.n // 2

    @property
    def half_band(self) -> int:
        return min(self.below, self.above)

    @property
    def asymmetric(self) -> bool:
        return abs(self.below - self.above) > 1

    @property
    def reach(self) -> int:
        return max(self.below, self.above)


def partial_fourier_sampling(kspace: KSpace) -> torch.Tensor:
    """Acquired samples of a Cartesian k-space: ``sampling_mask`` × non-zero readout samples.

    An asymmetric echo leaves the first (or last) ``k0`` samples of every readout at 0; those
    columns count as not acquired.

    Returns
    -------
    torch.Tensor
        bool ``(*other, k2, k1, k0)``.
    """
    data = kspace.data
    columns = (data != 0).reshape(-1, data.shape[-1]).any(dim=0)
    mask = kspace.sampling_mask.to(data.device).expand(*data.shape[:-4], *data.shape[-3:-1])
    return mask[..., None] & columns


def _geometry(sampled: torch.Tensor) -> list[_Axis]:
    """Acquired range of every axis of ``sampled (*, k2, k1, k0)``; checks the range is fully sampled."""
    flat = sampled.reshape(-1, *sampled.shape[-3:])
    union = flat.any(dim=0)
    axes = []
    for i, name in enumerate(_AXES):
        proj = union.movedim(i, 0).reshape(union.shape[i], -1).any(dim=1).nonzero().flatten()
        if proj.numel() == 0:
            raise DataError("the k-space holds no acquired samples")
        axes.append(_Axis(name, int(union.shape[i]), int(proj.min()), int(proj.max()) + 1))
    for ax in axes:
        if not ax.lo <= ax.n // 2 < ax.hi:
            raise DataError(
                f"the k-space centre along {ax.name} was not acquired: not a partial Fourier scan"
            )
    box = tuple(slice(a.lo, a.hi) for a in axes)
    inside = flat[(slice(None), *box)]
    if not bool(inside.all()):
        missing = 1.0 - float(inside.float().mean())
        raise DataError(
            f"{missing:.0%} of the samples between the first and last acquired lines are missing "
            "(undersampled for parallel imaging?): partial Fourier needs the acquired range fully "
            "sampled; unalias it first (GRAPPA) or use a SENSE/CS reconstruction"
        )
    return axes


def _as_tensor(kspace: torch.Tensor, sampled: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    if kspace.ndim < 3:
        raise DataError(f"k-space must be (*, k2, k1, k0), got shape {tuple(kspace.shape)}")
    if sampled is None:
        nonzero = kspace != 0
        sampled = nonzero.reshape(-1, *kspace.shape[-3:]).any(dim=0)
    try:
        sampled = torch.broadcast_to(sampled.to(kspace.device, torch.bool), kspace.shape)
    except RuntimeError:
        raise DataError(
            f"sampling mask {tuple(sampled.shape)} does not broadcast to the k-space {tuple(kspace.shape)}"
        ) from None
    return kspace, sampled


def _window(ax: _Axis, device: torch.device) -> torch.Tensor:
    """Hann window over the symmetric band of an asymmetric axis, 1 along a symmetric one."""
    if not ax.asymmetric:
        return torch.ones(ax.n, device=device)
    d = torch.arange(ax.n, device=device, dtype=torch.float32) - ax.n // 2
    s = ax.half_band
    return torch.where(d.abs() <= s, torch.cos(math.pi * d / (2 * (s + 1))) ** 2, torch.zeros_like(d))


def _ramp(ax: _Axis, device: torch.device) -> torch.Tensor:
    """Homodyne weights along one axis: 0 / linear ramp over the band / 2 on the long side."""
    if not ax.asymmetric:
        return torch.ones(ax.n, device=device)
    d = torch.arange(ax.n, device=device, dtype=torch.float32) - ax.n // 2
    u = d if ax.above > ax.below else -d
    s = ax.half_band
    return torch.where(u > s, torch.full_like(u, 2.0), torch.clamp(1 + u / (s + 1), min=0.0))


def _outer(vectors: list[torch.Tensor]) -> torch.Tensor:
    return vectors[0][:, None, None] * vectors[1][None, :, None] * vectors[2][None, None, :]


def _target(ax: _Axis, device: torch.device) -> torch.Tensor:
    """Samples that hold data after filling: mirror range of an asymmetric axis, else the acquired one."""
    i = torch.arange(ax.n, device=device)
    if ax.asymmetric:
        return (i - ax.n // 2).abs() <= ax.reach
    return (i >= ax.lo) & (i < ax.hi)


def _low_res_phase(k: torch.Tensor, axes: list[_Axis], ndim: int) -> torch.Tensor:
    window = _outer([_window(a, k.device) for a in axes]).to(k.dtype)
    low = centered_ifft(k * window, ndim)
    mag = low.abs()
    return torch.where(mag > 0, low / mag.clamp_min(1e-30), torch.ones_like(low))


def _check(axes: list[_Axis]) -> list[_Axis]:
    pf = [a for a in axes if a.asymmetric]
    for a in pf:
        if a.half_band < _MIN_HALF_BAND:
            raise DataError(
                f"partial Fourier along {a.name}: only {a.half_band} samples acquired on the short side "
                f"of the centre; the phase estimate needs a symmetric band of at least "
                f"{2 * _MIN_HALF_BAND + 1} samples"
            )
    return pf


def _pocs(k: torch.Tensor, sampled: torch.Tensor, iterations: int) -> tuple[torch.Tensor, list[_Axis]]:
    axes = _geometry(sampled)
    if not _check(axes):
        return k, axes
    ndim = 3 if k.shape[-3] > 1 else 2
    measured = torch.where(sampled, k, torch.zeros_like(k))
    phase = _low_res_phase(measured, axes, ndim)
    target = _outer([_target(a, k.device) for a in axes])
    estimate = measured
    for _ in range(iterations):
        x = centered_ifft(estimate, ndim)
        estimate = centered_fft(x.abs() * phase, ndim)
        estimate = torch.where(sampled, measured, torch.where(target, estimate, torch.zeros_like(estimate)))
    return estimate, axes


def _homodyne(k: torch.Tensor, sampled: torch.Tensor) -> tuple[torch.Tensor, list[_Axis]]:
    axes = _geometry(sampled)
    pf = _check(axes)
    if not pf:
        return k, axes
    if len(pf) > 1:
        raise ParameterError(
            f"homodyne handles one asymmetric axis; this k-space is asymmetric along "
            f"{' and '.join(a.name for a in pf)}: use POCS"
        )
    ndim = 3 if k.shape[-3] > 1 else 2
    measured = torch.where(sampled, k, torch.zeros_like(k))
    phase = _low_res_phase(measured, axes, ndim)
    weights = _outer([_ramp(a, k.device) for a in axes]).to(k.dtype)
    image = (centered_ifft(measured * weights, ndim) * phase.conj()).real
    filled = centered_fft(image.to(k.dtype) * phase, ndim)
    return torch.where(_outer([_target(a, k.device) for a in axes]), filled, torch.zeros_like(filled)), axes


def _kspace_result(kspace: KSpace, filled: torch.Tensor, axes: list[_Axis], method: str) -> KSpace:
    pf = [a for a in axes if a.asymmetric]
    if not pf:
        return replace(kspace, data=filled)
    lines = _target(axes[0], filled.device)[:, None] & _target(axes[1], filled.device)[None, :]
    record: dict[str, object] = {
        "method": method,
        "axes": [a.name for a in pf],
        "acquired_fraction": [round((a.hi - a.lo) / a.n, 4) for a in pf],
    }
    return replace(
        kspace,
        data=filled,
        sampling_mask=kspace.sampling_mask.to(filled.device) | lines,
        meta={**kspace.meta, "partial_fourier": record},
    )


@overload
def pocs_partial_fourier(
    kspace: KSpace, sampled: None = None, *, iterations: int = ..., device: DeviceLike = ...
) -> KSpace: ...
@overload
def pocs_partial_fourier(
    kspace: torch.Tensor,
    sampled: torch.Tensor | None = None,
    *,
    iterations: int = ...,
    device: DeviceLike = ...,
) -> torch.Tensor: ...
def pocs_partial_fourier(
    kspace: KSpace | torch.Tensor,
    sampled: torch.Tensor | None = None,
    *,
    iterations: int = 10,
    device: DeviceLike = "auto",
) -> KSpace | torch.Tensor:
    """Fill a partial Fourier k-space by POCS (see the module docstring).

    Parameters
    ----------
    kspace
        :class:`KSpace` (Cartesian; acquired samples from :func:`partial_fourier_sampling`),
        or a complex tensor ``(*, k2, k1, k0)`` (``k2 = 1`` in 2D).
    sampled
        For a tensor: bool, broadcastable to it, True where acquired (default: where the
        data are non-zero in any leading index).
    iterations
        Number of POCS iterations (≥ 1).
    device
        Where it runs; the result lives there.

    Returns
    -------
    KSpace or torch.Tensor
        The same kind as the input: complex64 k-space with the missing side filled (samples
        whose mirror image was not acquired stay 0). A :class:`KSpace` gets the filled lines
        in ``sampling_mask`` and ``meta["partial_fourier"]``. Symmetric data come back unchanged.

    Raises
    ------
    DataError
        Centre not acquired, the acquired range not fully sampled, too few samples on the
        short side.
    ParameterError
        Non-Cartesian data or ``iterations < 1``.
    """
    if int(iterations) != iterations or iterations < 1:
        raise ParameterError(f"POCS needs iterations ≥ 1, got {iterations!r}")
    dev = resolve_device(device)
    if isinstance(kspace, KSpace):
        _check_cartesian(kspace)
        k = kspace.data.to(dev, torch.complex64)
        filled, pf = _pocs(k, partial_fourier_sampling(kspace).to(dev)[..., None, :, :, :], int(iterations))
        return _kspace_result(kspace.to(dev), filled, pf, "pocs")
    k, s = _as_tensor(kspace.to(dev, torch.complex64), sampled)
    return _pocs(k, s, int(iterations))[0]


@overload
def homodyne(kspace: KSpace, sampled: None = None, *, device: DeviceLike = ...) -> KSpace: ...
@overload
def homodyne(
    kspace: torch.Tensor, sampled: torch.Tensor | None = None, *, device: DeviceLike = ...
) -> torch.Tensor: ...
def homodyne(
    kspace: KSpace | torch.Tensor, sampled: torch.Tensor | None = None, *, device: DeviceLike = "auto"
) -> KSpace | torch.Tensor:
    """Partial Fourier by homodyne detection (see the module docstring).

    Parameters
    ----------
    kspace
        :class:`KSpace` (Cartesian) or complex tensor ``(*, k2, k1, k0)``.
    sampled
        For a tensor: bool acquired-sample mask broadcastable to it (default: non-zero data).
    device
        Where it runs; the result lives there.

    Returns
    -------
    KSpace or torch.Tensor
        The same kind as the input: complex64 k-space ``F(Re(e^{-iφ} F⁻¹(H s)) e^{iφ})`` per coil,
        i.e. the homodyne image with its low-resolution phase ``φ``. Symmetric data come back
        unchanged.

    Raises
    ------
    DataError, ParameterError
        As :func:`pocs_partial_fourier`.
    """
    dev = resolve_device(device)
    if isinstance(kspace, KSpace):
        _check_cartesian(kspace)
        k = kspace.data.to(dev, torch.complex64)
        filled, pf = _homodyne(k, partial_fourier_sampling(kspace).to(dev)[..., None, :, :, :])
        return _kspace_result(kspace.to(dev), filled, pf, "homodyne")
    k, s = _as_tensor(kspace.to(dev, torch.complex64), sampled)
    return _homodyne(k, s)[0]


def _check_cartesian(kspace: KSpace) -> None:
    if kspace.trajectory is not None or not kspace.header.is_cartesian:
        raise ParameterError(
            "partial Fourier by POCS/homodyne works on Cartesian k-space; this one has a "
            f"{kspace.header.trajectory!r} trajectory"
        )

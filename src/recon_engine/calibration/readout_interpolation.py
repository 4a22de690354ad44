"""Band-limited interpolation along straight readouts sampled at the Nyquist rate of the FOV.

Gridding (density-compensated adjoint NUFFT) of radial spokes is filtered back-projection:
the samples of one spoke are the 1D Fourier transform of the object's projection, and the
density weight ``∝ |k|`` is the ramp filter. Spokes sampled at ``Δk = 1`` grid unit (one
cycle per FOV: no readout oversampling, e.g. 256 samples for a 256 matrix) only know the
ramp-filtered projection *periodised* with period FOV; its tails from the neighbouring
periods back-project into the image (the "interperiod interference" and DC shift of
filtering projections without zero padding, Kak & Slaney 1988, ch. 3.3). With every spoke
through ``k = 0`` that gives the bright rim outside the object, streaks and a too-low
centre that no density weight can remove (the error is not diagonal in k-space: measured
on 128 spokes × 128 samples for 128², correlation with the Cartesian image 0.908 for
Voronoi, Pipe–Menon and the analytic ramp alike).

A projection of an object inside the FOV has support ``|s| < FOV/2``, so its samples at
``Δk = 1`` determine it, and the samples in between follow exactly by zero-padding it
(trigonometric interpolation along the readout). :func:`interpolate_readouts` inserts the
midpoints of every straight, uniformly sampled readout whose spacing exceeds
:data:`COARSE_SPACING` grid units; then gridding sees a 2× oversampled readout (same
measurement: 128² correlation 0.908 → 0.998, the CG least-squares solution 0.977).
The argument holds for any straight line in k-space (through the centre or not; 2D and 3D).

References
----------
A. C. Kak and M. Slaney, *Principles of Computerized Tomographic Imaging*, IEEE Press (1988),
ch. 3.3, doi:10.1137/1.9780898719277.
"""

from __future__ import annotations

import math

import torch

__all__ = ["COARSE_SPACING", "interpolate_readouts", "straight_readout_spacing"]

#: readouts sampled more coarsely than this (grid units = cycles per FOV) are interpolated
COARSE_SPACING = 0.75
#: relative deviation from a straight, uniformly sampled line that still counts as one
_STRAIGHT = 1e-3


def straight_readout_spacing(trajectory: torch.Tensor) -> float | None:
    """Common sample spacing of readouts that are straight and uniformly sampled, else None.

    Parameters
    ----------
    trajectory
        float ``(..., k0, 3)`` ``(kz, ky, kx)`` in cycles per FOV; each ``(..., :, :)`` row is a readout.

    Returns
    -------
    float or None
        The spacing ``|k_{t+1} - k_t|`` in grid units, when every readout has at least 4
        samples, steps that agree to ``1e-3`` of the spacing in length and direction, and
        all readouts share the spacing (to ``1e-3``); otherwise None.
    """
    t = trajectory.detach().to("cpu", torch.float64)
    if t.ndim < 2 or t.shape[-2] < 4 or t.numel() == 0:
        return None
    step = t.reshape(-1, *t.shape[-2:]).diff(dim=-2)  # (readouts, k0 - 1, 3)
    mean = step.mean(dim=-2, keepdim=True)
    spacing = mean.norm(dim=-1)  # (readouts, 1)
    h = float(spacing.median())
    if not math.isfinite(h) or h <= 0:
        return None
    uniform = float((step - mean).norm(dim=-1).max()) <= _STRAIGHT * h
    shared = float((spacing - h).abs().max()) <= _STRAIGHT * h
    return h if uniform and shared else None


def interpolate_readouts(
    data: torch.Tensor,
    trajectory: torch.Tensor,
    *,
    acquired: torch.Tensor | None = None,
    spacing_limit: float = COARSE_SPACING,
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Insert the band-limited midpoints between the samples of coarse straight readouts.

    The readout's ``M`` samples are expanded in the ``M`` lowest trigonometric frequencies
    (the Nyquist term of even ``M`` dropped, so that the interpolant is the one of a
    projection supported in ``|s| < FOV/2``) and evaluated half a sample later; the result
    has ``2M - 1`` samples at spacing ``h/2`` over the same span.

    Parameters
    ----------
    data
        complex ``(*lead, k0)``: readouts along the last axis (``lead`` e.g. ``(coils, k2, k1)``).
    trajectory
        float ``(*tlead, k0, 3)``, ``tlead`` the trailing axes of ``lead`` (e.g. ``(k2, k1)``).
    acquired
        bool ``tlead``: the readouts that were measured (only they are checked); default all.
    spacing_limit
        Interpolate only when the readouts are straight and uniform with spacing above this.

    Returns
    -------
    data, trajectory, done
        ``(*lead, 2 k0 - 1)`` and ``(*tlead, 2 k0 - 1, 3)`` (same dtypes) with ``done`` True;
        the inputs unchanged with ``done`` False when the readouts do not qualify.
    """
    measured = trajectory if acquired is None else trajectory[acquired.to(trajectory.device, torch.bool)]
    h = straight_readout_spacing(measured)
    if h is None or h <= spacing_limit:
        return data, trajectory, False
    m = data.shape[-1]
    freq = (
        torch.fft.fftfreq(m, device=data.device, dtype=torch.float64) * m
    )  # integers, -M/2 first for even M
    shift = torch.exp(1j * math.pi * freq / m)  # e^{iπ f / M}: half a sample along the readout
    if m % 2 == 0:
        shift[m // 2] = 0.0  # Nyquist term: cos(π(t+½)) = 0 at the midpoints
    spectrum = torch.fft.fft(data.to(torch.complex128), dim=-1)
    # y_t = Σ_f c_f e^{+2πi f t / M} with c = fft(y)/M, so y_{t+½} = ifft(fft(y) e^{iπ f/M})
    mid = torch.fft.ifft(spectrum * shift, dim=-1)[..., :-1].to(data.dtype)
    out = torch.stack([data[..., :-1], mid], dim=-1).flatten(-2)
    out = torch.cat([out, data[..., -1:]], dim=-1)
    traj = trajectory.to(torch.float64)
    half = 0.5 * (traj[..., :-1, :] + traj[..., 1:, :])
    new = torch.stack([traj[..., :-1, :], half], dim=-2).flatten(-3, -2)
    new = torch.cat([new, traj[..., -1:, :]], dim=-2).to(trajectory.dtype)
    return out, new, True

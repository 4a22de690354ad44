"""Isochromat Bloch simulation kernels in torch (functional core of :mod:`.seq_sim`).

Every isochromat ``j`` has a position ``r_j`` (m), an off-resonance ``Δf_j`` (Hz), relaxation
rates ``R1 = 1/T1``, ``R2 = 1/T2`` (1/s) and an equilibrium magnetisation of 1; its state is
the transverse magnetisation ``Mxy = Mx + i·My`` (complex64) and ``Mz`` (float32).

Conventions (the Bloch equation ``dM/dt = 2π M × B`` with ``B`` in Hz, i.e. γ > 0):

- free precession multiplies ``Mxy`` by ``exp(-2πi (Δm·r + Δf·Δt))`` (``Δm``: gradient moment
  in 1/m over the interval), so that the signal is ``s(k) = Σ ρ(r) exp(-2πi k·r)``, the
  convention of the engine's Fourier operators and of pypulseq's ``calculate_kspace``;
- an RF segment with complex amplitude ``b1`` rotates ``M`` about
  ``B = (Re b1, Im b1, Δm/Δt·r + Δf − f_rf)`` by ``−2π|B|Δt`` (a pulse of phase 0 tips
  ``+z`` towards ``+y``); ``f_rf`` is the pulse's frequency offset: the pulse acts in the
  frame rotating with it, and a spin whose off-resonance equals ``f_rf`` is on resonance,
  as pypulseq's slice positioning (``f = γ G z``) intends;
- relaxation: ``Mxy ← Mxy·E2``, ``Mz ← 1 + (Mz − 1)·E1``;
- the receiver sums ``w_cj · Mxy_j`` over the isochromats (coil weights ``w``) and
  demodulates by the ADC phase: ``s_c = exp(-iφ_adc) Σ_j w_cj Mxy_j``.

Counting: one *isochromat step* is one isochromat advanced over one interval (a free
precession interval, one RF segment or one ADC sample).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Isochromats", "State", "free_precess", "readout", "rotate_pulse", "spoil"]

_TWO_PI = 2.0 * math.pi


@dataclass
class Isochromats:
    """Fixed properties of ``n`` isochromats on one device.

    Attributes
    ----------
    position_m
        float32 ``(n, 3)`` ``(x, y, z)`` in m.
    df_hz
        float32 ``(n,)`` off-resonance (B0 and the intra-voxel spread) in Hz.
    r1, r2
        float32 ``(n,)`` relaxation rates in 1/s.
    weights
        complex64 ``(coils, n)``: proton density × coil sensitivity × scale.
    """

    position_m: torch.Tensor
    df_hz: torch.Tensor
    r1: torch.Tensor
    r2: torch.Tensor
    weights: torch.Tensor

    @property
    def n(self) -> int:
        """Number of isochromats."""
        return int(self.df_hz.shape[0])


@dataclass
class State:
    """Magnetisation of the isochromats: ``mxy`` complex64 ``(n,)``, ``mz`` float32 ``(n,)``."""

    mxy: torch.Tensor
    mz: torch.Tensor

    @staticmethod
    def equilibrium(n: int, device: torch.device) -> State:
        """``M = (0, 0, 1)`` for every isochromat."""
        return State(torch.zeros(n, dtype=torch.complex64, device=device), torch.ones(n, device=device))


def _relax(state: State, iso: Isochromats, dt: float) -> None:
    if dt <= 0:
        return
    e1 = torch.exp(-iso.r1 * dt)
    state.mxy.mul_(torch.exp(-iso.r2 * dt))
    state.mz.sub_(1.0).mul_(e1).add_(1.0)


def free_precess(state: State, iso: Isochromats, dm: np.ndarray, dt: float) -> None:
    """Precess and relax for ``dt`` s under a gradient moment ``dm`` (1/m, ``(3,)``), in place."""
    if dt <= 0 and not np.any(dm):
        return
    dmv = torch.as_tensor(np.asarray(dm, dtype=np.float32), device=iso.df_hz.device)
    cycles = iso.position_m @ dmv + iso.df_hz * float(dt)
    state.mxy.mul_(torch.polar(torch.exp(-iso.r2 * float(max(dt, 0.0))), -_TWO_PI * cycles))
    e1 = torch.exp(-iso.r1 * float(max(dt, 0.0)))
    state.mz.sub_(1.0).mul_(e1).add_(1.0)


def _rotation_matrix(bx: float, by: float, bz: float, dt: float) -> np.ndarray:
    """3×3 rotation of ``M`` by ``−2π|B|dt`` about ``B`` (float64)."""
    norm = math.sqrt(bx * bx + by * by + bz * bz)
    if norm == 0.0:
        return np.eye(3)
    n = np.array([bx, by, bz]) / norm
    theta = -_TWO_PI * norm * dt
    k = np.array([[0.0, -n[2], n[1]], [n[2], 0.0, -n[0]], [-n[1], n[0], 0.0]])
    return np.eye(3) + math.sin(theta) * k + (1.0 - math.cos(theta)) * (k @ k)


def _apply_matrix(state: State, rot: np.ndarray) -> None:
    r = rot.astype(np.float32)
    mx, my, mz = state.mxy.real, state.mxy.imag, state.mz
    nx = r[0, 0] * mx + r[0, 1] * my + r[0, 2] * mz
    ny = r[1, 0] * mx + r[1, 1] * my + r[1, 2] * mz
    nz = r[2, 0] * mx + r[2, 1] * my + r[2, 2] * mz
    state.mxy = torch.complex(nx, ny)
    state.mz = nz


def rotate_pulse(
    state: State, iso: Isochromats, b1_hz: np.ndarray, dt: float, g_hz_per_m: np.ndarray, freq_hz: float
) -> int:
    """Apply one RF pulse (piecewise-constant segments) with relaxation, in place.

    Parameters
    ----------
    b1_hz
        complex ``(n_segments,)`` B1 per segment (Hz).
    dt
        Segment duration (s).
    g_hz_per_m
        ``(n_segments, 3)`` mean gradient per segment (Hz/m).
    freq_hz
        Frequency offset of the pulse (Hz).

    Returns
    -------
    int
        Isochromat steps done (``n_segments · n``, or ``n`` when all isochromats share one
        rotation and a single 3×3 matrix is applied).

    Notes
    -----
    Relaxation over the pulse is split symmetrically (half before, half after the rotation).
    When the off-resonance during the pulse is the same for every isochromat (no gradient
    across the object, no B0 spread), the pulse is one exact 3×3 matrix computed in
    float64; otherwise each segment is a Rodrigues rotation per isochromat.
    """
    n_seg = int(b1_hz.shape[0])
    total = n_seg * dt
    _relax(state, iso, total / 2)
    g = torch.as_tensor(np.asarray(g_hz_per_m, dtype=np.float32), device=iso.df_hz.device)
    base = iso.df_hz - float(freq_hz)
    spread_g = (iso.position_m.amax(0) - iso.position_m.amin(0)).cpu().numpy().astype(np.float64)
    g_span = float(np.max(np.abs(np.asarray(g_hz_per_m)) @ spread_g)) if n_seg else 0.0
    df_span = float(base.max() - base.min()) if iso.n else 0.0
    steps: int
    if (g_span + df_span) * total < 1e-5:
        bz0 = float(base[0]) if iso.n else 0.0
        p0 = iso.position_m[0].cpu().numpy().astype(np.float64) if iso.n else np.zeros(3)
        rot = np.eye(3)
        for i in range(n_seg):
            bz_u = bz0 + float(np.asarray(g_hz_per_m[i], dtype=np.float64) @ p0)
            rot = _rotation_matrix(float(b1_hz[i].real), float(b1_hz[i].imag), bz_u, dt) @ rot
        _apply_matrix(state, rot)
        steps = iso.n
    else:
        mx, my, mz = state.mxy.real.clone(), state.mxy.imag.clone(), state.mz.clone()
        for i in range(n_seg):
            bx, by = float(b1_hz[i].real), float(b1_hz[i].imag)
            bz = base + iso.position_m @ g[i]
            norm = torch.sqrt(bz * bz + (bx * bx + by * by))
            safe = torch.where(norm > 0, norm, torch.ones_like(norm))
            ux, uy, uz = bx / safe, by / safe, bz / safe
            theta = -_TWO_PI * dt * norm
            c, s = torch.cos(theta), torch.sin(theta)
            dot = (ux * mx + uy * my + uz * mz) * (1.0 - c)
            cx = uy * mz - uz * my
            cy = uz * mx - ux * mz
            cz = ux * my - uy * mx
            mx, my, mz = mx * c + cx * s + ux * dot, my * c + cy * s + uy * dot, mz * c + cz * s + uz * dot
        state.mxy = torch.complex(mx, my)
        state.mz = mz
        steps = n_seg * iso.n
    _relax(state, iso, total / 2)
    # back from the pulse's rotating frame to the Larmor frame
    if freq_hz:
        state.mxy.mul_(complex(np.exp(-1j * _TWO_PI * freq_hz * total)))
    return steps


def readout(
    state: State,
    iso: Isochromats,
    dm: np.ndarray,
    tau: np.ndarray,
    phase_rad: float,
    *,
    chunk: int = 1 << 14,
) -> torch.Tensor:
    """Signal at ADC samples, without changing the state.

    Parameters
    ----------
    dm
        ``(n_samples, 3)`` gradient moment from now to each sample (1/m).
    tau
        ``(n_samples,)`` time from now to each sample (s), ≥ 0.
    phase_rad
        Receiver (ADC) phase.
    chunk
        Isochromats per matrix product (memory ``chunk × n_samples`` complex).

    Returns
    -------
    torch.Tensor
        complex64 ``(coils, n_samples)`` on the isochromats' device.
    """
    dev = iso.df_hz.device
    dmv = torch.as_tensor(np.asarray(dm, dtype=np.float32), device=dev)  # (s, 3)
    tv = torch.as_tensor(np.asarray(tau, dtype=np.float32), device=dev)  # (s,)
    out = torch.zeros(iso.weights.shape[0], tv.shape[0], dtype=torch.complex64, device=dev)
    for a in range(0, iso.n, chunk):
        b = min(a + chunk, iso.n)
        cycles = iso.position_m[a:b] @ dmv.T + iso.df_hz[a:b, None] * tv[None, :]
        decay = torch.exp(-iso.r2[a:b, None] * tv[None, :])
        prop = torch.polar(decay, -_TWO_PI * cycles)  # (chunk, s)
        out += (iso.weights[:, a:b] * state.mxy[a:b]) @ prop
    if phase_rad:
        out *= complex(np.exp(-1j * phase_rad))
    return out


def spoil(state: State) -> None:
    """Ideal spoiling: ``Mxy = 0``."""
    state.mxy.zero_()

"""The linear problem of the iterative reconstructions: :class:`Problem` and its :class:`Encoding`.

A :class:`Problem` holds the prepared data, sampling, trajectory and coil maps of a whole
k-space (see :func:`recon_engine.reconstructions._iterative.prepare`); its
:meth:`Problem.encoding` builds the operator of one job: Cartesian ``A = M F S`` on the
encoded grid, or non-Cartesian ``A = √W · NUFFT · S`` with the Toeplitz normal operator
``Sᴴ(AᴴWA)S`` (fused, :class:`~recon_engine.operators.toeplitz_sense.ToeplitzSenseOp`).
:func:`lipschitz_steps` gives solver step sizes from ``AᴴA``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch

from recon_engine.calibration.density import DensityMethod, density_compensation
from recon_engine.calibration.oversampling import fit_to_recon_space
from recon_engine.data.kspace import KSpace
from recon_engine.operators.cartesian_normal import CartesianNormalOp
from recon_engine.operators.coils import SensitivityOp
from recon_engine.operators.fft import FFTOp
from recon_engine.operators.nufft import NUFFTOp
from recon_engine.operators.sampling import CartesianSamplingOp
from recon_engine.operators.toeplitz import ToeplitzNormalOp
from recon_engine.operators.toeplitz_sense import ToeplitzSenseOp
from recon_engine.progress import ProgressEvent, Steps, relay
from recon_engine.solvers._power import PowerState, power_iteration_steps, seeded_like

__all__ = ["Encoding", "Map", "Problem", "lipschitz_steps"]

#: A linear map of tensors (operator application).
Map = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Encoding:
    """The linear problem ``y = A x`` of one job.

    Attributes
    ----------
    forward, adjoint
        ``A``: image ``(frames, n_maps, z, y, x)`` → (weighted) data, and ``Aᴴ``.
    normal
        ``AᴴA`` (for the NUFFT the Toeplitz embedding, no NUFFT per call).
    data
        The (weighted) measured data ``y`` in the range of ``A``.
    rhs
        ``Aᴴ y``, the shape of the image.
    to_recon
        Encoded grid → recon space (readout oversampling removed), ``(*, z, y, x)``.
    """

    forward: Map
    adjoint: Map
    normal: Map
    data: torch.Tensor
    rhs: torch.Tensor
    to_recon: Map

    @cached_property
    def constant(self) -> float:
        """``½‖y‖²``: added to solver objectives so that they read ``½‖Ax − y‖² + …``.

        Computed once (solvers add it every iteration) and by ``vdot``: torch's complex
        ``vector_norm`` takes ~15 ms for 16 × 256² samples on this CPU.
        """
        flat = self.data.reshape(-1)
        return 0.5 * float(torch.vdot(flat, flat).real)

    @property
    def scale(self) -> float:
        """``max |Aᴴy|``: the unit of relative regularization weights (0 → 1)."""
        m = float(self.rhs.abs().max())
        return m if m > 0 else 1.0


def lipschitz_steps(normal: Map, like: torch.Tensor, iterations: int = 20) -> Steps[float]:
    """``λ_max(N)`` by power iteration, yielding a progress event per application of ``N``."""
    steps = power_iteration_steps(normal, seeded_like(like), iterations)

    def event(state: PowerState) -> ProgressEvent:
        stage = f"step size (power iteration {state.iteration})"
        return ProgressEvent(stage, 0, 0, metrics={"lipschitz": state.estimate})

    return float((yield from relay(steps, event)))


@dataclass
class Problem:
    """Everything an iterative reconstruction needs, on the compute device.

    Attributes
    ----------
    kspace
        The input.
    data
        complex64 ``(*other, coils, k2, k1, k0)``, prewhitened when possible.
    mask
        bool ``(*other, k2, k1)``.
    trajectory
        float32 ``(*other, k2, k1, k0, 3)`` (CPU) for non-Cartesian data, else None.
    maps
        complex64 ``(*other_m, n_maps, coils, z, y, x)``, ``other_m`` broadcastable to ``other``.
    """

    kspace: KSpace
    data: torch.Tensor
    mask: torch.Tensor
    trajectory: torch.Tensor | None
    maps: torch.Tensor
    other_axes: tuple[str, ...]
    image_shape: tuple[int, ...]
    device: torch.device
    whitened: bool
    density: DensityMethod
    joint_frames: bool

    @property
    def transform(self) -> str:
        """``"fft"`` or ``"nufft"``."""
        return "fft" if self.trajectory is None else "nufft"

    @property
    def other(self) -> tuple[int, ...]:
        """Shape of the ``other`` axes."""
        return tuple(self.data.shape[:-4])

    def jobs(self) -> list[tuple[Any, ...]]:
        """Index tuples into ``other``: one per volume, or per frame stack (first axis joint)."""
        if self.joint_frames:
            return [(slice(None), *idx) for idx in np.ndindex(*self.other[1:])]
        return [tuple(idx) for idx in np.ndindex(*self.other)]

    def _frames(self, t: torch.Tensor, sel: tuple[Any, ...], tail: int) -> torch.Tensor:
        """``t`` ``(*other', *tail)`` (broadcastable to ``other``) at ``sel``: ``(frames, *tail)``."""
        n = len(self.other)
        if t.ndim - tail < n:
            t = t.reshape(*([1] * (n - t.ndim + tail)), *t.shape)
        out = t.expand(*self.other, *t.shape[n:])[sel]
        return out if self.joint_frames else out.unsqueeze(0)

    def encoding(self, sel: tuple[Any, ...]) -> Encoding:
        """The encoding of job ``sel`` (see :meth:`jobs`)."""
        y = self._frames(self.data, sel, 4)
        maps = self._frames(self.maps, sel, 5)
        if maps.shape[0] > 1 and bool((maps == maps[:1]).all()):
            maps = maps[:1]
        sens = SensitivityOp(maps)
        mask = self._frames(self.mask, sel, 2)
        if self.trajectory is None:
            ndim = 3 if y.shape[-3] > 1 else 2
            a = CartesianSamplingOp(mask[:, None, :, :, None]) @ FFTOp(ndim) @ sens
            data = y * mask[:, None, :, :, None]
            header = self.kspace.header
            return Encoding(
                a.forward,
                a.adjoint,
                CartesianNormalOp(maps, mask[:, None, :, :, None], ndim).forward,  # = a.gram, fused
                data,
                a.adjoint(data),
                lambda x: fit_to_recon_space(x, header),
            )
        return self._nufft_encoding(y, self._frames(self.trajectory, sel, 4), mask.cpu(), sens)

    def _nufft_encoding(
        self, y: torch.Tensor, traj: torch.Tensor, mask: torch.Tensor, sens: SensitivityOp
    ) -> Encoding:
        frames, coils = y.shape[:2]
        dev, shape = self.device, self.image_shape
        shared = bool((traj == traj[:1]).all() and (mask == mask[:1]).all())
        if shared:  # one point set: only the acquired readouts
            pts = traj[0][mask[0]].reshape(-1, 3)
            w = density_compensation(pts, shape, self.density, device=dev)
            y = y[:, :, mask[0].to(dev)].reshape(frames, coils, -1)
        else:  # a point set per frame: every readout, unacquired ones weighted 0
            m = mask[..., None].expand(*traj.shape[:-1])
            pts = torch.where(m[..., None], traj, torch.zeros_like(traj)).reshape(frames, -1, 3)
            w = torch.zeros(frames, pts.shape[1], device=dev)
            for f in range(frames):
                sel = m[f].reshape(-1)
                w[f, sel.to(dev)] = density_compensation(pts[f][sel], shape, self.density, device=dev)
            y = y.reshape(frames, coils, -1)
        nufft = NUFFTOp(pts, shape, device=dev)
        toeplitz = ToeplitzNormalOp(pts, shape, weights=w, device=dev)
        if not shared:
            w = w[:, None, :]  # (frames, 1, points) against data (frames, coils, points)
        root = torch.sqrt(w).to(torch.complex64)
        two_d = len(shape) == 2

        def flat(x: torch.Tensor) -> torch.Tensor:
            return x.squeeze(-3) if two_d else x

        def grid(x: torch.Tensor) -> torch.Tensor:
            return x.unsqueeze(-3) if two_d else x

        def forward(x: torch.Tensor) -> torch.Tensor:
            return root * nufft(flat(sens(x)))

        def adjoint(d: torch.Tensor) -> torch.Tensor:
            return sens.adjoint(grid(nufft.adjoint(root * d)))

        data = root * y
        normal = ToeplitzSenseOp(toeplitz, sens.maps).forward  # = Sᴴ(AᴴWA)S, fused
        return Encoding(forward, adjoint, normal, data, adjoint(data), lambda x: x)

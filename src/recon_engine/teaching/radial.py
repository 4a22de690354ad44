"""Radial sampling of an explorer source: spokes, gridding (density-compensated adjoint NUFFT), PSF.

Spokes come from :func:`recon_engine.simulate.trajectories.radial` (``2N`` samples per spoke,
2× readout oversampling, uniform or golden-angle increments of ≈ 111.25°), samples from the
NUFFT operator :class:`recon_engine.operators.nufft.NUFFTOp` applied to the fully sampled coil
images, density compensation from :func:`recon_engine.calibration.density.density_compensation`
(Pipe–Menon). ``πN/2`` spokes sample the edge of k-space at Nyquist; fewer give streaks
(radial undersampling artefacts) rather than fold-over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from recon_engine.calibration.density import density_compensation
from recon_engine.data.image import ImageData
from recon_engine.device import DeviceLike
from recon_engine.operators.nufft import NUFFTOp
from recon_engine.progress import ProgressEvent, Steps
from recon_engine.simulate.trajectories import radial
from recon_engine.teaching._container import radial_kspace
from recon_engine.teaching._fft import fft2c, ifft2c, tensor
from recon_engine.teaching._recon import iterative_steps, runner
from recon_engine.teaching._views import make_views
from recon_engine.teaching.acquire import rss_magnitude
from recon_engine.teaching.corruptions import mean_signal, unit_noise
from recon_engine.teaching.filters import filter_mask, kspace_window
from recon_engine.teaching.psf import log_magnitude
from recon_engine.teaching.settings import ExplorerSettings, ExplorerViews
from recon_engine.teaching.source import ExplorerSource

__all__ = ["RadialSetup", "nyquist_spokes", "radial_setup", "radial_steps", "sample_cells"]


def nyquist_spokes(n: int) -> int:
    """Spokes that sample the edge of an ``n``-matrix k-space at Nyquist: ``ceil(π n / 2)``."""
    return math.ceil(math.pi * n / 2)


@dataclass(frozen=True)
class RadialSetup:
    """Everything radial of one source and spoke count (cached per source).

    Attributes
    ----------
    trajectory
        float32 ``(spokes, 2N, 3)`` ``(kz, ky, kx)`` in cycles per FOV, in acquisition order.
    nufft
        NUFFT of all points ``(spokes · 2N, 3)`` onto the ``(y, x)`` matrix.
    weights
        float32 ``(spokes · 2N,)`` density compensation (grid units).
    samples
        complex64 ``(coils, spokes · 2N)`` of the fully sampled coil images.
    """

    trajectory: np.ndarray
    nufft: NUFFTOp
    weights: torch.Tensor
    samples: torch.Tensor

    def grid(self, samples: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Density-compensated adjoint: samples ``(*, points)`` → images ``(*, y, x)``."""
        w = self.weights if weights is None else weights
        return self.nufft.adjoint(samples * w)

    def psf(self) -> np.ndarray:
        """complex64 ``(y, x)`` PSF (gridded unit samples), 1 at the image centre."""
        p = self.grid(torch.ones(self.weights.shape, dtype=torch.complex64)).numpy()
        return (p / p[p.shape[0] // 2, p.shape[1] // 2]).astype(np.complex64)


def radial_setup(source: ExplorerSource, spokes: int, golden_angle: bool) -> RadialSetup:
    """The radial set-up of ``source`` for ``spokes`` spokes (computed once per combination)."""
    ny, nx = source.shape
    n = max(ny, nx)

    def make() -> RadialSetup:
        traj = radial(int(spokes), 2 * n, golden_angle=golden_angle, matrix=n)
        if (ny, nx) != (n, n):  # scale to cycles per FOV of each axis
            traj = traj * np.array([1.0, ny / n, nx / n], dtype=np.float32)
        pts = traj.reshape(-1, 3)
        op = NUFFTOp(pts, (ny, nx))
        w = density_compensation(pts, (ny, nx), "pipe")
        samples = op(tensor(source.coil_images()))
        return RadialSetup(traj, op, w, samples)

    return source.cached(f"radial:{int(spokes)}:{bool(golden_angle)}", make)


def sample_cells(trajectory: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """float32 ``(ky, kx)``: 1 in every grid cell that holds at least one sample, else 0."""
    ny, nx = shape
    pts = trajectory.reshape(-1, 3)
    iy = np.clip(np.round(pts[:, 1] + ny // 2).astype(int), 0, ny - 1)
    ix = np.clip(np.round(pts[:, 2] + nx // 2).astype(int), 0, nx - 1)
    cells = np.zeros(shape, dtype=np.float32)
    cells[iy, ix] = 1.0
    return cells


def radial_steps(
    source: ExplorerSource, s: ExplorerSettings, *, keep_iterates: bool, device: DeviceLike
) -> Steps[ExplorerViews]:
    """Radial acquisition: spokes, gridding, and SENSE/CS on the radial KSpace."""
    spokes = int(s.radial_spokes or 1)
    yield ProgressEvent("radial set-up (NUFFT, density compensation)", 0, 1)
    setup = radial_setup(source, spokes, bool(s.golden_angle))
    samples = setup.samples
    sigma = 0.0
    if s.snr is not None:
        sigma = source.cached("mean_signal", lambda: mean_signal(source.kspace)) / float(s.snr)
        key = f"radial_noise:{spokes}:{bool(s.golden_angle)}:{int(s.seed)}"
        samples = samples + sigma * source.cached(key, lambda: unit_noise(tuple(samples.shape), int(s.seed)))
    shape = source.shape
    post = kspace_window(shape, s.window, s.window_alpha) * filter_mask(shape, s.filter, s.filter_radius)
    post_t = torch.from_numpy(np.ascontiguousarray(post, dtype=np.float32))
    shown = tensor(fft2c(setup.grid(samples))) * post_t
    aliased = source.combine(ifft2c(shown))
    iterates = None
    if s.recon == "zero_filled":
        recon = aliased
    else:
        ks = radial_kspace(samples.numpy().reshape(source.n_coils, spokes, -1), setup.trajectory, shape)
        maps = source.coil_maps()[:, None]

        def finish(result: ImageData) -> np.ndarray:
            img = result.data.detach().to("cpu", torch.complex64)[0, 0]
            return ifft2c(tensor(fft2c(img)) * post_t)

        run = runner(ks, maps, s, device)
        recon, iterates = yield from iterative_steps(run, int(s.iterations), keep_iterates, finish)
    rss = rss_magnitude(shown)
    views = make_views(
        source,
        sample_cells(setup.trajectory, shape),
        torch.log1p(rss).numpy(),
        aliased,
        recon,
        log_magnitude(setup.psf()),
    )
    views.metrics["acceleration"] = nyquist_spokes(max(shape)) / spokes
    views.metrics["noise_std"] = sigma
    views.iterates = iterates
    return views

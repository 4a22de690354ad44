"""Non-uniform FFT operator (finufft on the CPU, cufinufft on CUDA) with autograd.

Convention (the same as :func:`~recon_engine.operators.fft.centered_fft`): for an image
``x`` on the centred grid ``r = n - N // 2`` and a sample ``k`` in cycles per FOV,

    ``(A x)(k) = 1/sqrt(N_pixels) · Σ_r x[r] · exp(-2πi Σ_d k_d r_d / N_d)``,

so Cartesian samples reproduce the centred orthonormal FFT. ``k`` is converted to radians
``ω = 2π k / N`` only here. A forward is a type-2 NUFFT (``isign = -1``); the adjoint is the
exact adjoint of the same plan (``Plan.execute_adjoint``, a type-1 transform with
``isign = +1``; separate type-1 plans are used where a library lacks it).

Accuracy and speed in single precision
--------------------------------------
finufft in complex64 picks ``upsampfac = 2`` on its own for tolerances ≤ 1e-5 and then runs
2–3× slower. We fix ``eps = 1e-4`` and ``upsampfac = 1.25``. Measured through this operator
(finufft 2.5.1, best of 15, 16 coils × 64 radial spokes × 256 samples ↔ 256²; relative ℓ2
error against a float64 NUFFT at ``eps = 1e-12``):

================================  =================  =================  ==========
choice                            forward 2 / 1 thr  adjoint 2 / 1 thr  rel. error
================================  =================  =================  ==========
eps 1e-4, upsampfac 1.25 (used)   21 / 36 ms         26 / 40 ms         7.8e-5
eps 1e-4, upsampfac 2.0           48 / 101 ms        56 / 110 ms        5.6e-5
eps 1e-5 (auto → 2.0)             50 / 107 ms        54 / 111 ms        1.3e-5
eps 1e-3, upsampfac 1.25          16 / 33 ms         19 / 37 ms         1.4e-3
================================  =================  =================  ==========

Against the direct NDFT (:func:`ndft`) the relative error is ≈ 1.2e-4 (tests assert < 3e-4);
the adjoint matches to float32 rounding (dot-product test ≈ 1e-5, 16 coils). Threads:
``torch.get_num_threads()``, but one thread for transforms under 2¹⁷ points × batch, where
OpenMP start-up and barriers cost more than they save (0.14 s instead of 0.1 ms per call on a
busy 2-core machine). cufinufft keeps its default ``upsampfac = 2`` at the same ``eps``.

References
----------
J. A. Fessler and B. P. Sutton, "Nonuniform fast Fourier transforms using min-max
interpolation", IEEE Trans. Signal Process. 51:560–574 (2003), doi:10.1109/TSP.2002.807005.
A. H. Barnett, J. Magland, L. af Klinteberg, "A parallel nonuniform fast Fourier transform
library based on an 'exponential of semicircle' kernel", SIAM J. Sci. Comput. 41:C479–C504
(2019), doi:10.1137/18M120885X.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from recon_engine.errors import DataError, ParameterError
from recon_engine.operators.base import LinearOperator

__all__ = ["DEFAULT_EPS", "DEFAULT_UPSAMPFAC", "NUFFTOp", "check_trajectory", "ndft", "ndft_adjoint"]

DEFAULT_EPS = 1e-4
DEFAULT_UPSAMPFAC = 1.25
_GPU_HINT = "pip install napari-mrrecon[gpu]"
_MIN_POINTS_PER_THREAD = 2**17


def _as_numpy(a: np.ndarray | torch.Tensor) -> np.ndarray:
    return a.detach().to("cpu").numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def check_trajectory(trajectory: np.ndarray | torch.Tensor, image_shape: Sequence[int]) -> None:
    """Raise :class:`~recon_engine.errors.DataError` unless a trajectory fits the image grid.

    Parameters
    ----------
    trajectory
        float ``(..., 3)`` with ``(kz, ky, kx)`` in cycles per FOV; ``kz`` is ignored in 2D.
    image_shape
        ``(y, x)`` or ``(z, y, x)``: every ``|k_d|`` must be ≤ ``N_d / 2``.
    """
    t = torch.as_tensor(trajectory)
    if t.ndim < 1 or t.shape[-1] != 3:
        raise DataError(f"trajectory must be (..., 3) with (kz, ky, kx), got shape {tuple(t.shape)}")
    nd = len(image_shape)
    if t.numel() == 0:
        raise DataError("trajectory has no samples")
    k = t[..., 3 - nd :].reshape(-1, nd)
    if not bool(torch.isfinite(k).all()):
        raise DataError("trajectory contains NaN or infinite values")
    kmax = k.abs().amax(dim=0).to("cpu", torch.float64).numpy()
    for d, (m, n) in enumerate(zip(kmax, image_shape, strict=True)):
        if m > n / 2 * (1 + 1e-4) + 1e-4:
            axis = "zyx"[3 - nd + d]
            raise DataError(
                f"trajectory reaches |k{axis}| = {m:.4g} cycles/FOV, beyond ±{n / 2:g} (N/2 of a "
                f"{n}-pixel {axis} axis); the trajectory must be in cycles per recon FOV"
            )


def _grid(shape: Sequence[int]) -> np.ndarray:
    """Centred pixel offsets ``(N_pixels, ndim)`` of a grid, ``r_d = n_d - N_d // 2``."""
    axes = [np.arange(n) - n // 2 for n in shape]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(shape)).astype(np.float64)


def _ndft_matrix(trajectory: np.ndarray | torch.Tensor, image_shape: Sequence[int]) -> np.ndarray:
    nd = len(image_shape)
    k = _as_numpy(trajectory).astype(np.float64)[..., 3 - nd :].reshape(-1, nd)
    phase = (k / np.asarray(image_shape, dtype=np.float64)) @ _grid(image_shape).T
    return np.exp(-2j * np.pi * phase) / math.sqrt(math.prod(image_shape))


def ndft(
    image: np.ndarray | torch.Tensor, trajectory: np.ndarray | torch.Tensor, ndim: int = 2
) -> np.ndarray:
    """Direct (slow, exact) non-uniform DFT in float64: the reference of :class:`NUFFTOp`.

    Parameters
    ----------
    image
        ``(*batch, [z,] y, x)``, centred grid; the last ``ndim`` axes are transformed.
    trajectory
        ``(n_points, 3)`` ``(kz, ky, kx)`` in cycles per FOV.
    ndim
        2 or 3.

    Returns
    -------
    np.ndarray
        complex128 ``(*batch, n_points)``. Memory is ``n_points × N_pixels``: small problems only.
    """
    x = _as_numpy(image).astype(np.complex128)
    shape = x.shape[-ndim:]
    e = _ndft_matrix(trajectory, shape)
    return np.asarray(x.reshape(*x.shape[:-ndim], -1) @ e.T)


def ndft_adjoint(
    kdata: np.ndarray | torch.Tensor, trajectory: np.ndarray | torch.Tensor, image_shape: Sequence[int]
) -> np.ndarray:
    """Adjoint of :func:`ndft`: ``(*batch, n_points)`` → complex128 ``(*batch, [z,] y, x)``."""
    y = _as_numpy(kdata).astype(np.complex128)
    e = _ndft_matrix(trajectory, image_shape)
    return np.asarray((y @ e.conj()).reshape(*y.shape[:-1], *image_shape))


class _PlanPair:
    """Forward (type 2) and adjoint plans of one point set and one batch size."""

    def __init__(self, lib: Any, omega: list[Any], shape: tuple[int, ...], n_trans: int, opts: dict) -> None:
        self.fwd = lib.Plan(2, shape, n_trans, isign=-1, dtype="complex64", **opts)
        self.fwd.setpts(*omega)
        self.adj: Any = None
        if not hasattr(self.fwd, "execute_adjoint"):
            self.adj = lib.Plan(1, shape, n_trans, isign=1, dtype="complex64", **opts)
            self.adj.setpts(*omega)

    def run(self, data: Any, out: Any, adjoint: bool) -> None:
        if not adjoint:
            self.fwd.execute(data, out=out)
        elif self.adj is None:
            self.fwd.execute_adjoint(data, out=out)
        else:
            self.adj.execute(data, out=out)


def _load_cufinufft() -> Any:
    try:
        import cufinufft
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ParameterError(f"a NUFFT on CUDA needs cufinufft: {_GPU_HINT}") from exc
    return cufinufft


class NUFFTOp(LinearOperator):
    """Image → non-Cartesian k-space, batched over coils and other axes.

    Parameters
    ----------
    trajectory
        float32 ``(*sets, n_points, 3)`` (``(kz, ky, kx)``, cycles per FOV, each in
        ``[-N/2, N/2]``); leading ``sets`` axes hold different point sets (e.g. one per
        cardiac phase). A ``(n_points, 3)`` trajectory applies to any batch.
    image_shape
        ``(y, x)`` or ``(z, y, x)``; in 2D ``kz`` is ignored.
    device
        Device of the data (default: the trajectory's); CUDA uses cufinufft.
    eps, upsampfac
        finufft tolerance and upsampling factor (see the module docstring); ``upsampfac``
        applies to the CPU only.
    max_cached_batches
        Plans are kept for this many batch sizes (least recently used are dropped).

    Notes
    -----
    Shapes: forward ``(*sets, *batch, [z,] y, x)`` → ``(*sets, *batch, n_points)``; the adjoint
    goes back. Plans (``n_trans = prod(batch)``) are made on first use and reused;
    :attr:`plans_created` counts them. Gradients flow through both directions.
    """

    def __init__(
        self,
        trajectory: np.ndarray | torch.Tensor,
        image_shape: Sequence[int],
        *,
        device: torch.device | str | None = None,
        eps: float = DEFAULT_EPS,
        upsampfac: float = DEFAULT_UPSAMPFAC,
        max_cached_batches: int = 4,
    ) -> None:
        self.image_shape = tuple(int(n) for n in image_shape)
        if len(self.image_shape) not in (2, 3) or min(self.image_shape) < 1:
            raise ParameterError(f"NUFFT image shape must be (y, x) or (z, y, x), got {image_shape!r}")
        traj = torch.as_tensor(trajectory)
        if traj.ndim < 2:
            raise DataError(f"trajectory must be (..., n_points, 3), got shape {tuple(traj.shape)}")
        check_trajectory(traj, self.image_shape)
        self.device = torch.device(device) if device is not None else traj.device
        nd = len(self.image_shape)
        self.set_shape = tuple(traj.shape[:-2])
        self.n_points = int(traj.shape[-2])
        n = torch.tensor(self.image_shape, dtype=torch.float64)
        omega = (2 * math.pi * traj[..., 3 - nd :].to("cpu", torch.float64) / n).to(torch.float32)
        omega = omega.reshape(-1, self.n_points, nd)
        self.scale = 1.0 / math.sqrt(math.prod(self.image_shape))
        self.eps = float(eps)
        self._omega: list[list[Any]]
        if self.device.type == "cuda":
            self._lib = _load_cufinufft()
            self._opts: dict[str, Any] = {"eps": self.eps, "gpu_device_id": self.device.index or 0}
            self._omega = [
                [omega[t, :, d].contiguous().to(self.device) for d in range(nd)] for t in range(len(omega))
            ]
        else:
            import finufft

            self._lib = finufft
            self._opts = {"eps": self.eps, "upsampfac": float(upsampfac)}
            self._omega = [[omega[t, :, d].numpy().copy() for d in range(nd)] for t in range(len(omega))]
        self._plans: OrderedDict[tuple[int, int], _PlanPair] = OrderedDict()
        self._max_cached = max(1, int(max_cached_batches)) * len(self._omega)
        self._lock = threading.Lock()
        self.plans_created = 0

    @property
    def ndim(self) -> int:
        """2 or 3."""
        return len(self.image_shape)

    def _plan(self, t: int, n_trans: int) -> _PlanPair:
        key = (t, n_trans)
        plan = self._plans.get(key)
        if plan is None:
            opts = dict(self._opts)
            if self.device.type == "cpu":
                # small transforms run faster on one thread (no OpenMP barriers)
                big = self.n_points * n_trans >= _MIN_POINTS_PER_THREAD
                opts["nthreads"] = torch.get_num_threads() if big else 1
            plan = _PlanPair(self._lib, self._omega[t], self.image_shape, n_trans, opts)
            self.plans_created += 1
            self._plans[key] = plan
            while len(self._plans) > self._max_cached:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(key)
        return plan

    def _split(self, shape: tuple[int, ...], tail: tuple[int, ...]) -> tuple[int, ...]:
        """Check ``shape = (*sets, *batch, *tail)`` and return ``batch``."""
        ns = len(self.set_shape)
        if (
            len(shape) < ns + len(tail)
            or shape[len(shape) - len(tail) :] != tail
            or shape[:ns] != self.set_shape
        ):
            raise ParameterError(
                f"NUFFT input of shape {shape} does not match (*sets, *batch, *{tail}) "
                f"with sets = {self.set_shape}"
            )
        return shape[ns : len(shape) - len(tail)]

    def _apply(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        """Run the NUFFT (no autograd): ``adjoint`` False is type 2, True its adjoint."""
        kshape = (self.n_points,)
        tail_in, tail_out = (kshape, self.image_shape) if adjoint else (self.image_shape, kshape)
        if x.device != self.device:
            raise ParameterError(f"NUFFT data is on {x.device} but the operator on {self.device}")
        batch = self._split(tuple(x.shape), tail_in)
        n_sets, n_trans = len(self._omega), math.prod(batch)
        out = torch.empty((n_sets, n_trans, *tail_out), dtype=torch.complex64, device=self.device)
        if n_trans > 0:
            xs = x.detach().to(torch.complex64).reshape(n_sets, n_trans, *tail_in).contiguous()
            with self._lock:
                for t in range(n_sets):
                    if self.device.type == "cuda":
                        self._plan(t, n_trans).run(xs[t], out[t], adjoint)
                    else:
                        self._plan(t, n_trans).run(xs[t].numpy(), out[t].numpy(), adjoint)
            out.mul_(self.scale)
        return out.reshape(*self.set_shape, *batch, *tail_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Image ``(*sets, *batch, [z,] y, x)`` → k-space ``(*sets, *batch, n_points)`` (complex64)."""
        return _Forward.apply(x.to(torch.complex64), self)  # type: ignore[no-any-return]

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """k-space ``(*sets, *batch, n_points)`` → image ``(*sets, *batch, [z,] y, x)`` (complex64)."""
        return _Adjoint.apply(y.to(torch.complex64), self)  # type: ignore[no-any-return]


class _Forward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, op: NUFFTOp) -> torch.Tensor:  # type: ignore[override]
        ctx.op = op
        return op._apply(x, adjoint=False)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return _Adjoint.apply(grad, ctx.op), None


class _Adjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, y: torch.Tensor, op: NUFFTOp) -> torch.Tensor:  # type: ignore[override]
        ctx.op = op
        return op._apply(y, adjoint=True)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return _Forward.apply(grad, ctx.op), None

"""Fused SENSE normal operator ``Sᴴ (AᴴWA) S`` of non-Cartesian data (Toeplitz embedding).

``x ↦ Σ_c conj(S_c) · crop(F⁻¹ K F pad(S_c x))`` (summed over map sets ``m`` as well:
``S_c x = Σ_m S_{m,c} x_m``) with ``K`` the 2×-grid kernel of
:class:`~recon_engine.operators.toeplitz.ToeplitzNormalOp`. It equals
``SensitivityOp(maps).H @ ToeplitzNormalOp @ SensitivityOp(maps)`` to float32 rounding
(tests compare them) and differs only in how the work is ordered.

Why fused
---------
Composed, each application materialises the coil images, pads them to a
``(coils, 2y, 2x)`` array (33 MB for 16 coils at 256²) and transforms that batch: the array
does not stay in cache, and ``pad``, the kernel product and the crop each stream it through
memory once more. On the CPU this operator instead runs a few coils at a time (``chunk``,
by default one per torch thread, so that each thread transforms one 2 MB grid in its own
cache) through one reused zero-padded buffer: only its top-left corner is written (the
padding stays zero between coils), the inverse FFT runs in place on the spectrum, and the
coil combination reads the corner of the spectrum buffer directly.

Measured on a busy shared 2-core machine (OMP_WAIT_POLICY=PASSIVE, min of 10, interleaved;
16 coils, 256², real kernel), per application: one thread: composed 110 ms, fused 37 ms,
the 32 FFTs of the 512² grid alone 30 ms (the bound; the rest is the kernel product and the
coil products); two threads: composed 113–181 ms, fused 34–60 ms. Alternatives measured and
not kept: one coil per FFT call with 2 threads (118–193 ms under load: every small FFT is an
OpenMP barrier, hence the default chunk), coils split over 2 Python threads (105–137 ms),
scipy.fft ``workers=1`` in 2 threads (80–129 ms), pruned FFTs that skip the zero rows
(torch's strided 1D FFTs: 2–5× slower), a polyphase split into four 256² FFTs (same speed).
On CUDA, and below 64² (measured crossover, 8 coils) where the Python loop costs more than it
saves, the batched composition is used.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import torch

from recon_engine.errors import DataError
from recon_engine.operators.base import LinearOperator
from recon_engine.operators.toeplitz import ToeplitzNormalOp

__all__ = ["ToeplitzSenseOp"]

#: Below this many 2×-grid pixels per coil the batched composition is used (measured, 8 coils:
#: batched 0.19 vs loop 0.39 ms at 32², equal at 64², loop 2.6 vs 7.8 ms at 96²).
MIN_LOOP_PIXELS = 2**14


class ToeplitzSenseOp(LinearOperator):
    """``AᴴWA`` of ``A = NUFFT · S`` (coil sensitivities, then the NUFFT) without a NUFFT.

    Parameters
    ----------
    toeplitz
        The NUFFT normal operator ``AᴴWA`` on images ``(y, x)`` or ``(z, y, x)``, with point
        sets ``sets`` (``()`` for one trajectory, ``(frames,)`` for one per frame).
    maps
        complex ``(*batch_m, n_maps, coils, z, y, x)`` (``z = 1`` for 2D), on the device of the
        kernel; ``batch_m`` broadcasts against the image's ``batch``.
    loop
        Run coil chunks through one reused buffer (True) or the batched composition (False).
        Default: loop on the CPU unless the 2× grid is tiny, batched on CUDA.
    chunk
        Coils per FFT call in the loop (default ``torch.get_num_threads()``).

    Notes
    -----
    Shapes: ``(*batch, n_maps, z, y, x)`` → same; ``batch`` starts with the kernel's ``sets``.
    Memory of the loop: two ``(chunk, [2z,] 2y, 2x)`` complex64 buffers per calling thread,
    kept while the operator lives, and a conjugated copy of the maps (a product with a lazy
    ``conj()`` view costs 2.3 instead of 1.8 ms per 16 × 256² on this CPU).
    """

    def __init__(
        self,
        toeplitz: ToeplitzNormalOp,
        maps: torch.Tensor,
        *,
        loop: bool | None = None,
        chunk: int | None = None,
    ) -> None:
        if maps.ndim < 5:
            raise DataError(f"coil maps must be (n_maps, coils, z, y, x), got shape {tuple(maps.shape)}")
        self.toeplitz = toeplitz
        nd = len(toeplitz.image_shape)
        grid = tuple(int(n) for n in maps.shape[-3:])
        if (grid[1:] if nd == 2 else grid) != toeplitz.image_shape or (nd == 2 and grid[0] != 1):
            raise DataError(
                f"coil maps of shape {tuple(maps.shape)} do not fit the Toeplitz image shape "
                f"{toeplitz.image_shape}"
            )
        self.maps = maps.to(torch.complex64)
        self.maps_conj = self.maps.conj().resolve_conj()
        self.image_shape = toeplitz.image_shape
        if loop is None:
            loop = maps.device.type == "cpu" and 2**nd * math.prod(self.image_shape) >= MIN_LOOP_PIXELS
        self.loop = bool(loop)
        self.chunk = max(1, int(chunk) if chunk is not None else torch.get_num_threads())
        self._local = threading.local()  # each calling thread reuses its own buffers

    @property
    def n_coils(self) -> int:
        """Number of coils."""
        return int(self.maps.shape[-4])

    def _check(self, x: torch.Tensor) -> None:
        """Raise :class:`DataError` unless ``x`` is ``(*sets, *batch, n_maps, z, y, x)``."""
        sets = self.toeplitz.set_shape
        if (
            x.ndim < 4
            or tuple(x.shape[-4:]) != (self.maps.shape[-5], *self.maps.shape[-3:])
            or tuple(x.shape[: len(sets)]) != sets
        ):
            raise DataError(
                f"image of shape {tuple(x.shape)} does not fit coil maps {tuple(self.maps.shape)} and "
                f"Toeplitz point sets {sets}: expected (*{sets}, *batch, "
                f"{', '.join(str(s) for s in (self.maps.shape[-5], *self.maps.shape[-3:]))})"
            )

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        coil = (self.maps * x.unsqueeze(-4)).sum(dim=-5)  # (*batch, coils, z, y, x)
        two_d = len(self.image_shape) == 2
        t = self.toeplitz.adjoint if adjoint else self.toeplitz.forward
        y = t(coil.squeeze(-3) if two_d else coil)
        y = y.unsqueeze(-3) if two_d else y
        return (self.maps_conj * y.unsqueeze(-5)).sum(dim=-4)

    def _buffers(self, chunk: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The zero-padded input and the spectrum buffer of this thread, ``(chunk, [2z,] 2y, 2x)``.

        Kept between calls (allocating and zeroing them cost ~1 ms per call for 16 coils at
        256²): only the input's corner is ever written, so its padding stays zero.
        """
        shape = (chunk, *(2 * n for n in self.image_shape))
        bufs: tuple[torch.Tensor, torch.Tensor] | None = getattr(self._local, "bufs", None)
        if bufs is None or tuple(bufs[0].shape) != shape or bufs[0].device != device:
            buf = torch.zeros(shape, dtype=torch.complex64, device=device)
            bufs = (buf, torch.empty_like(buf))
            self._local.bufs = bufs
        return bufs

    def _looped(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        batch = tuple(x.shape[:-4])
        nd = len(self.image_shape)
        n_maps, coils = int(self.maps.shape[-5]), self.n_coils
        kernel = self.toeplitz.kernel
        if adjoint and not self.toeplitz.hermitian:
            kernel = kernel.conj().resolve_conj()
        n_sets = len(self.toeplitz.set_shape)
        m_batch = tuple(self.maps.shape[:-5])
        m_batch = (1,) * (len(batch) - len(m_batch)) + m_batch
        if len(m_batch) > len(batch) or any(m not in (1, b) for m, b in zip(m_batch, batch, strict=True)):
            raise DataError(
                f"coil maps {tuple(self.maps.shape)} do not broadcast against the image {tuple(x.shape)}"
            )
        maps = self.maps.reshape(*m_batch, *self.maps.shape[-5:])
        maps_conj = self.maps_conj.reshape(maps.shape)
        out = torch.zeros(*batch, n_maps, *x.shape[-3:], dtype=torch.complex64, device=x.device)
        xs, work = x.to(torch.complex64), out
        if nd == 2:  # views without the single z plane
            maps, maps_conj, xs, work = (t.select(-3, 0) for t in (maps, maps_conj, xs, out))
        chunk = min(self.chunk, coils)
        dims = tuple(range(-nd, 0))
        corner: tuple[Any, ...] = (..., *(slice(0, n) for n in self.image_shape))
        buf, spec = self._buffers(chunk, x.device)
        for idx in np.ndindex(*batch):
            mi = tuple(i if n > 1 else 0 for i, n in zip(idx, m_batch, strict=True))
            s, sc, xb, ob = maps[mi], maps_conj[mi], xs[idx], work[idx]  # (n_maps, [coils,] [z,] y, x)
            k = kernel[idx[:n_sets]]
            for c0 in range(0, coils, chunk):
                n = min(chunk, coils - c0)
                inp, sp = buf[:n], spec[:n]
                corner_in = inp[corner]  # the zero padding around it is never written
                torch.mul(s[0, c0 : c0 + n], xb[0], out=corner_in)
                for m in range(1, n_maps):
                    corner_in.addcmul_(s[m, c0 : c0 + n], xb[m])
                torch.fft.fftn(inp, dim=dims, out=sp)
                sp.mul_(k)
                torch.fft.ifftn(sp, dim=dims, out=sp)
                coil_out = sp[corner]
                for m in range(n_maps):
                    for j in range(n):
                        ob[m].addcmul_(sc[m, c0 + j], coil_out[j])
        return out

    def _apply(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        self._check(x)
        # the loop writes into buffers (no autograd): differentiate through the composition
        grad = torch.is_grad_enabled() and (x.requires_grad or self.maps.requires_grad)
        return self._looped(x, adjoint) if self.loop and not grad else self._batched(x, adjoint)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``Sᴴ AᴴWA S x`` for ``x`` ``(*batch, n_maps, z, y, x)``."""
        return self._apply(x, False)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``Sᴴ AᴴWᴴA S y`` (the same as :meth:`forward` for real weights)."""
        return self._apply(y, True)

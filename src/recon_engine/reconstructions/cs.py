"""Compressed sensing: total variation (PDHG) and wavelet-ℓ1 (FISTA) on the SENSE model.

The methods live in :mod:`.cs_tv` and :mod:`.cs_wavelet`; this module documents both and
re-exports them.

Problems (``A`` the SENSE encoding of :mod:`~recon_engine.reconstructions.sense`):

- TV: ``min_x ½‖Ax − y‖² + λ‖∇_s x‖₂,₁ + λ_t‖∇_t x‖₁`` (isotropic spatial TV over ``(y, x)`` or
  ``(z, y, x)``; optional TV along the first ``other`` axis, frames solved jointly), by
  Chambolle–Pock with ``G(x) = ½‖Ax − y‖²`` and ``K = [∇_s; ∇_t]``. ``prox_{τG}`` solves
  ``(AᴴA + I/τ)x = Aᴴy + v/τ`` by 2 CG steps started at the previous iterate, whose ``AᴴA x``
  is kept (:class:`~recon_engine.solvers.pdhg.WarmQuadraticProx`): 2 applications of ``AᴴA``
  per iteration (the Toeplitz normal operator for non-Cartesian data), none for the objective;
  the trade-off against 1, 3, 4 steps and a linearised variant is measured in :mod:`.cs_tv`.
  Putting the data term in ``G`` instead of in ``K`` spares the iteration the conditioning of
  SENSE. At R = 4 (64², 8 coils, noise σ = 0.01, λ = 1e-3) the data-in-``K`` variant reached
  objective 1.1740 (NRMSE 0.240) after 200 iterations (200 applications of ``A`` and ``Aᴴ``),
  the data-in-``G`` one (then up to 10 restarted CG steps) 1.1704 (0.214) after 20 and
  1.1666 (0.173) after 50 (optimum ≈ 1.1654, NRMSE 0.147).
  Steps: ``‖K‖² < 4·(number of difference directions)``,
  ``τ = r/‖K‖``, ``σ = 0.99/(r‖K‖)`` with ``r = 1/√λ_rel`` (clipped to ``[1, 100]``), which
  balances primal (image, ∝ intensity) and dual (∝ ``λ``) scales.
- Wavelet: ``½‖Ax − y‖² + λ‖W S x‖₁`` by FISTA on the image with the wavelet grid shifted by a
  random (seeded) circular shift ``S`` every iteration, as BART's ``pics -R W`` (cycle
  spinning: approximately the shift-invariant norm ``E_S‖W S x‖₁``, no blocking at the grid;
  a stochastic method, not one fixed objective); ``W`` the orthonormal Daubechies transform,
  db2 by default. ``cycle_spinning=False`` solves the fixed-grid synthesis problem
  ``min_c ½‖A Wᴴ c − y‖² + λ‖c‖₁``. Step ``1/L``: for Cartesian data the exact bound
  ``L = max_r Σ_c |S_c(r)|² ≥ λ_max(AᴴA)`` (no operator applications), otherwise power
  iteration. On the benchmark's P1 (256², 16 coils, R = 4 + 24 lines, λ = 2e-3, 50 iterations)
  NRMSE 0.0646 → 0.0327 (db4 fixed grid → db2 shifted; db4 shifted 0.048).

Both start from 10 CG-SENSE iterations (tolerance 1e-3), which saves most of the early
iterations of the first-order methods.

Scaling of the weights: ``regularization_weight`` and ``temporal_weight`` are relative to
``max |Aᴴy|`` of each volume (the largest magnitude of the zero-filled, coil-combined image):
``λ = regularization_weight · max|Aᴴy|``. Both terms of the objective then scale alike with the
data (``½‖Ax − y‖²`` and ``λ‖∇x‖₁`` are both quadratic in the intensity), so one relative weight
(≈ 1e-3 to 1e-2) works across scanners, coils and receiver gains.

References
----------
M. Lustig, D. Donoho, J. M. Pauly, "Sparse MRI: the application of compressed sensing for rapid
MR imaging", Magn. Reson. Med. 58:1182–1195 (2007), doi:10.1002/mrm.21391.
K. T. Block, M. Uecker, J. Frahm, "Undersampled radial MRI with multiple coils. Iterative image
reconstruction using a total variation constraint", Magn. Reson. Med. 57:1086–1098 (2007),
doi:10.1002/mrm.21236.
A. Chambolle and T. Pock, "A first-order primal-dual algorithm for convex problems with
applications to imaging", J. Math. Imaging Vis. 40:120–145 (2011), doi:10.1007/s10851-010-0251-1.
"""

from recon_engine.reconstructions.cs_tv import tv_steps
from recon_engine.reconstructions.cs_wavelet import wavelet_steps

__all__ = ["tv_steps", "wavelet_steps"]

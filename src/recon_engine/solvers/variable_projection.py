"""Grid search with closed-form linear coefficients (variable projection) for separable models.

Problem
-------
For signals ``s_v ≈ B(θ) c`` with nonlinear ``θ`` on a grid ``θ_g`` and linear ``c``, find per
voxel ``g* = argmin_g min_c ‖s_v − B_g c‖²`` and ``c`` — the grid point whose column space holds
most of the signal energy, ``‖Q_gᵀ s‖²`` with ``B_g = Q_g R_g`` (Golub & Pereyra).

References
----------
G. Golub and V. Pereyra, "Separable nonlinear least squares: the variable projection method
and its applications", Inverse Problems 19:R1–R26 (2003), doi:10.1088/0266-5611/19/2/201.
"""

from __future__ import annotations

import torch

__all__ = ["variable_projection_search"]


def variable_projection_search(
    signals: torch.Tensor, bases: torch.Tensor, *, chunk: int = 65536
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best grid point and closed-form linear coefficients for ``s ≈ B_g c``.

    Parameters
    ----------
    signals
        ``(V, n)`` real signals.
    bases
        ``(G, n, L)`` real basis matrices, one per grid point of the nonlinear parameters.
    chunk
        Voxels per matmul.

    Returns
    -------
    index : torch.Tensor
        ``(V,)`` int64 best grid point (largest projected energy ``‖Q_gᵀ s‖²``).
    coefficients : torch.Tensor
        ``(V, L)`` least-squares ``c`` for that grid point.
    cost : torch.Tensor
        ``(V,)`` residual ``‖s − B_g c‖²``.
    """
    g, n, n_lin = bases.shape
    q, r = torch.linalg.qr(bases.to(torch.float64))
    # a first basis vector shared by every grid point (e.g. the constant of a − b·e^{−t/T1})
    # adds the same energy everywhere: rank the grid by the other components only
    lead = q[:, :, 0] * q[:, :1, 0].sign()
    shared = n_lin > 1 and bool(torch.allclose(lead, lead[:1].expand_as(lead)))
    if shared:
        sign = q[:, :1, 0].sign()  # make the shared vector identical (not just up to sign)
        q[:, :, 0] *= sign
        r[:, 0, :] *= sign
    r_inv = torch.linalg.inv(r + 1e-12 * torch.eye(n_lin, dtype=r.dtype, device=r.device))
    # columns ordered (l, g): block l holds the l-th orthonormal vector of every grid point
    first = 1 if shared else 0
    qcat = q[:, :, first:].permute(1, 2, 0).reshape(n, (n_lin - first) * g).to(signals.dtype).contiguous()
    q0 = q[0, :, 0].to(signals.dtype)
    r_inv = r_inv.to(signals.dtype)
    n_vox = signals.shape[0]
    index = torch.empty(n_vox, dtype=torch.int64, device=signals.device)
    coef = torch.empty(n_vox, n_lin, dtype=signals.dtype, device=signals.device)
    cost = torch.empty(n_vox, dtype=signals.dtype, device=signals.device)
    for start in range(0, n_vox, chunk):
        y = signals[start : start + chunk]
        proj = y @ qcat
        m = n_lin - first
        if m == 1:
            best = proj.abs().argmax(1)
            zs = [proj.gather(1, best[:, None])[:, 0]]
        else:
            energy = proj[:, :g].square()
            for ell in range(1, m):
                energy += proj[:, ell * g : (ell + 1) * g].square()
            best = energy.argmax(1)
            zs = [proj[:, ell * g : (ell + 1) * g].gather(1, best[:, None])[:, 0] for ell in range(m)]
        if shared:
            zs.insert(0, y @ q0)
        z = torch.stack(zs, 1)
        index[start : start + y.shape[0]] = best
        coef[start : start + y.shape[0]] = (r_inv[best] @ z[:, :, None])[:, :, 0]
        cost[start : start + y.shape[0]] = (y.square().sum(1) - z.square().sum(1)).clamp_min(0)
    return index, coef, cost

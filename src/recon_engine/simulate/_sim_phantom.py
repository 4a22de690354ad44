"""Phantoms for the sequence simulator: maps (PD, T1, T2, T2*, B0) → isochromats.

A phantom is ``"brain"`` (the tissue maps of :func:`~recon_engine.simulate.phantom.tissue_maps`:
PD, T1, T2 of the Shepp–Logan ellipses at 3 T), ``"shepp-logan"`` (the modified
Shepp–Logan intensities as PD, T1 = 1000 ms, T2 = 100 ms everywhere), a mapping of maps,
or a file: ``.npz`` with named maps, ``.npy`` or NIfTI (one PD map; T1 = 1000 ms,
T2 = 100 ms). Names: ``pd`` (also ``PD``, ``m0``, ``M0``, ``rho``), ``t1_ms``/``t1_s``/``t1``,
``t2_ms``/``t2_s``/``t2``, ``t2s_ms``/``t2s_s``/``t2s``/``t2star``, ``b0_hz``/``b0``
(Hz); bare ``t1``/``t2``/``t2s`` are taken as seconds when their largest value is below 20.
Maps of any size are resampled to the simulation matrix (linear for PD and B0, nearest
for the relaxation times).

Intra-voxel isochromats: ``n`` per voxel, at low-discrepancy sub-voxel positions (so that
gradient spoilers dephase a voxel) and, where ``T2' = 1/(1/T2* − 1/T2)`` is finite, at
off-resonances ``B0 + x_k / (2π T2')`` on a uniform grid ``x_k`` of spacing ``2π/12`` (its
Fourier sum repeats after ``12 T2'``), weighted by the Lorentzian (Cauchy) density
``1/(1 + x_k²)`` and renormalised (the tails beyond the grid are dropped). The free
induction decay of a voxel is then ``exp(-t/T2*)`` with the decay constant right to
< 0.1 % from 64 isochromats on (over ``0 < t < 3 T2*``); its amplitude after the first
milliseconds is ``1/(1 − ε)`` with ``ε ≈ 2/(π F)`` the dropped tail mass (``F`` the grid's
half width in half widths: 2 % at 128 isochromats). A spin echo refocuses all of it.
With fewer isochromats (the imaging default of 4) T2* is only roughly modelled.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from scipy import ndimage

from recon_engine.errors import FileFormatError, ParameterError

__all__ = ["PHANTOMS", "load_maps", "resample_maps", "sampled_kspace_reference", "subvoxel_offsets"]

#: Built-in phantom names.
PHANTOMS = ("brain", "shepp-logan")

_ALIASES = {
    "pd": ("pd", "PD", "m0", "M0", "rho", "proton_density"),
    "t1": ("t1_ms", "t1_s", "t1", "T1", "T1_ms", "T1_s"),
    "t2": ("t2_ms", "t2_s", "t2", "T2", "T2_ms", "T2_s"),
    "t2s": ("t2s_ms", "t2s_s", "t2s", "T2s", "t2star", "T2star", "t2star_ms", "T2s_ms"),
    "b0": ("b0_hz", "b0", "B0", "B0_hz", "df_hz"),
}
_DEFAULT_T1_MS = 1000.0
_DEFAULT_T2_MS = 100.0


def _in_ms(name: str, values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if name.endswith("_s"):
        return v * 1e3
    if name.endswith("_ms"):
        return v
    finite = v[np.isfinite(v)]
    return v * 1e3 if finite.size and float(np.max(finite)) < 20.0 else v


def _pick(maps: Mapping[str, np.ndarray], key: str) -> tuple[str, np.ndarray] | None:
    for name in _ALIASES[key]:
        if name in maps:
            return name, np.asarray(maps[name])
    return None


def _builtin(name: str, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    from recon_engine.simulate.phantom import shepp_logan, shepp_logan_3d, tissue_maps

    n = shape[-1]
    if shape[-2] != n:
        raise ParameterError(f"the {name} phantom is square in-plane; the matrix is {shape}")
    nz = shape[0] if len(shape) == 3 else None
    if name == "brain":
        t = tissue_maps(n, nz) if nz else tissue_maps(n)
        return {"pd": t["pd"], "t1": t["t1_ms"], "t2": t["t2_ms"]}
    pd = shepp_logan_3d(n, nz) if nz else shepp_logan(n)
    return {"pd": pd, "t1": np.full(pd.shape, _DEFAULT_T1_MS), "t2": np.full(pd.shape, _DEFAULT_T2_MS)}


def _read_file(path: Path) -> dict[str, np.ndarray]:
    name = path.name.lower()
    if not path.is_file():
        raise FileFormatError(f"{path}: phantom file not found")
    try:
        if name.endswith(".npz"):
            with np.load(path, allow_pickle=False) as z:
                return {k: np.asarray(z[k]) for k in z.files}
        if name.endswith(".npy"):
            return {"pd": np.load(path, allow_pickle=False)}
        if name.endswith((".nii", ".nii.gz")):
            import nibabel as nib

            img = np.asarray(nib.load(str(path)).get_fdata(), dtype=np.float32)  # type: ignore[attr-defined]
            # NIfTI stores (x, y[, z]); the engine's maps are ([z,] y, x)
            return {"pd": np.transpose(img.squeeze())}
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"{path}: cannot read the phantom maps ({exc})") from exc
    raise FileFormatError(f"{path}: phantom maps must be .npz (named maps), .npy or NIfTI (.nii/.nii.gz)")


def load_maps(
    phantom: str | os.PathLike[str] | Mapping[str, np.ndarray], shape: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """PD, T1 (ms), T2 (ms), T2* (ms, inf = none) and B0 (Hz) maps of ``shape`` ``([z,] y, x)``.

    Raises
    ------
    ParameterError
        Unknown phantom name, maps without PD, maps of different shapes, negative values.
    FileFormatError
        Unreadable phantom file.
    """
    if isinstance(phantom, str) and phantom.lower() in PHANTOMS:
        raw: dict[str, np.ndarray] = _builtin(phantom.lower(), shape)
        maps = {"pd": raw["pd"], "t1": raw["t1"], "t2": raw["t2"]}
    else:
        if isinstance(phantom, (str, os.PathLike)):
            p = Path(phantom).expanduser()
            if not p.suffix and not p.exists():
                raise ParameterError(
                    f"unknown phantom {str(phantom)!r}; use one of {PHANTOMS} "
                    "or a .npz/.npy/NIfTI file of maps"
                )
            given: Mapping[str, np.ndarray] = _read_file(p)
        else:
            given = phantom
        pd = _pick(given, "pd")
        if pd is None:
            raise ParameterError(f"the phantom maps need a proton density ('pd'); got {sorted(given)}")
        maps = {"pd": np.abs(np.asarray(pd[1], dtype=np.float64))}
        for key, default in (("t1", _DEFAULT_T1_MS), ("t2", _DEFAULT_T2_MS)):
            found = _pick(given, key)
            maps[key] = _in_ms(*found) if found else np.full(maps["pd"].shape, default)
        found = _pick(given, "t2s")
        if found:
            maps["t2s"] = _in_ms(*found)
        found = _pick(given, "b0")
        if found:
            maps["b0"] = np.asarray(found[1], dtype=np.float64)
        for k, v in maps.items():
            if v.shape != maps["pd"].shape:
                raise ParameterError(f"phantom map {k!r} has shape {v.shape}, PD has {maps['pd'].shape}")
    out = resample_maps(maps, shape)
    out.setdefault("t2s", np.full(shape, np.inf))
    out.setdefault("b0", np.zeros(shape))
    for k in ("t1", "t2"):
        bad = (out["pd"] > 0) & ~(out[k] > 0)
        if bad.any():
            raise ParameterError(f"the phantom has {int(bad.sum())} voxels with PD > 0 and {k.upper()} ≤ 0")
    return out


def resample_maps(maps: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Maps resampled to ``shape`` (2D maps for a 2D shape, 3D for 3D; a 2D map fills every slice)."""
    out: dict[str, np.ndarray] = {}
    for key, value in maps.items():
        v = np.asarray(value, dtype=np.float64)
        v = np.squeeze(v) if v.ndim > len(shape) else v
        if v.ndim == 2 and len(shape) == 3:
            v = np.broadcast_to(v, (shape[0], *v.shape))
        if v.ndim != len(shape):
            raise ParameterError(f"phantom map {key!r} has shape {v.shape}; the simulation needs {shape}")
        if v.shape != shape:
            order = 1 if key in ("pd", "b0") else 0
            finite = np.where(np.isfinite(v), v, 1e12)
            v = ndimage.zoom(finite, [s / n for s, n in zip(shape, v.shape, strict=True)], order=order)
            v = np.where(v > 1e11, np.inf, v)
            v = v[tuple(slice(0, s) for s in shape)]
            if v.shape != shape:  # zoom rounding: pad by edge values
                v = np.pad(v, [(0, s - n) for s, n in zip(shape, v.shape, strict=True)], mode="edge")
        out[key] = np.ascontiguousarray(v)
    return out


def subvoxel_offsets(n: int, ndim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (in voxels, ``[-½, ½)`` per axis ``(x, y, z)``), frequencies and weights.

    Returns
    -------
    offsets, x, weights
        float64 ``(n, 3)`` sub-voxel offsets (``z`` = 0 for ``ndim = 2``), the Lorentzian
        grid ``x_k`` in units of the half width (``(n,)``, 0 for ``n = 1``) and the weights
        (``(n,)``, sum 1). The frequency of isochromat ``k`` is decorrelated from its
        position by a stride permutation.
    """
    if n < 1:
        raise ParameterError(f"isochromats per voxel must be ≥ 1, got {n}")
    k = np.arange(n)
    off = np.zeros((n, 3))
    if n > 1:
        phi2 = 1.324717957244746  # plastic number: R2/R3 low-discrepancy sequences
        if ndim == 2:
            golden = (1 + math.sqrt(5)) / 2
            off[:, 0] = (k + 0.5) / n - 0.5
            off[:, 1] = np.mod(0.5 + k / golden, 1.0) - 0.5
        else:
            a = np.array([1 / phi2, 1 / phi2**2, 1 / phi2**3]) if ndim == 3 else np.zeros(3)
            off = np.mod(0.5 + k[:, None] * a[None, :], 1.0) - 0.5
    if n == 1:
        return off, np.zeros(1), np.ones(1)
    x = (k - (n - 1) / 2) * (2 * math.pi / 12)
    density = 1.0 / (1.0 + x**2)
    weights = density / density.sum()
    stride = max(1, round(n * 0.618034))
    while math.gcd(stride, n) != 1:
        stride += 1
    perm = (k * stride) % n
    return off, x[perm], weights[perm]


def _overlap(n_out: int, n_in: int) -> np.ndarray:
    """``(n_out, n_in)``: fraction of output pixel ``j`` covered by input voxel ``i`` (same FOV)."""
    lo_o = (np.arange(n_out) - n_out // 2 - 0.5) / n_out
    lo_i = (np.arange(n_in) - n_in // 2 - 0.5) / n_in
    a = np.maximum(lo_o[:, None], lo_i[None, :])
    b = np.minimum(lo_o[:, None] + 1.0 / n_out, lo_i[None, :] + 1.0 / n_in)
    return np.clip(b - a, 0.0, None) * n_out


def sampled_kspace_reference(
    pd: np.ndarray,
    trajectory: np.ndarray,
    image_shape: tuple[int, int],
    *,
    voxel_shape: str = "box",
    reach: float = 0.55,
    oversampling: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The phantom as the recon grid sees it, and as a perfect window on the sampled k-space sees it.

    The simulated object is ``pd`` on its own grid ``(M_y, M_x)`` of box voxels filling the
    FOV of the reconstruction. ``reference``: its average over each recon pixel of
    ``image_shape`` ``(N_y, N_x)`` (``pd`` itself when the grids agree). ``ideal``: the object
    low-passed by the k-space region the trajectory samples, ``∫_K F(k) e^{2πik·r} dk`` at
    the recon pixel centres, with ``F`` the object's exact Fourier transform (for ``"box"``
    voxels including ``sinc(k_x/M_x) sinc(k_y/M_y)``) and ``K`` the frequencies within ``reach``
    grid units (cycles per FOV, in each axis) of a sample, summed on the recon grid's
    frequencies (``oversampling`` = 1: spacing ``1/FOV``, the FOV-periodic image that
    Nyquist-sampled data give; ``oversampling`` > 1: a finer sum, tending to the integral,
    whose Gibbs tails are not folded back). ``ideal`` is what a perfect reconstruction of
    exactly the sampled region gives: the floor of a reconstruction of data whose signal is
    the same at every sample (no relaxation during the acquisition), whatever the gridding
    or solver does.

    Parameters
    ----------
    pd
        Proton density ``(M_y, M_x)`` on the simulation grid.
    trajectory
        ``(..., 3)`` ``(kz, ky, kx)`` in cycles per FOV (the engine's ``KSpace.trajectory``
        order) of the acquired samples; NaNs are ignored.
    image_shape
        Recon matrix ``(N_y, N_x)``.
    voxel_shape
        ``"box"`` or ``"point"``, as the simulation used.
    reach
        Grid units: a frequency counts as sampled when a sample lies this close (0.55: a
        Cartesian sample's cell ``±½``, a Nyquist spiral's gap between turns).
    oversampling
        Frequency grid points per ``1/FOV`` (≥ 1). With 1, samples count modulo the grid
        size (``k`` and ``k ± N`` are the same frequency on the recon grid).

    Returns
    -------
    ideal, reference, sampled
        float64 ``|ideal|`` and ``reference`` ``(N_y, N_x)`` (same intensity scale), bool
        ``sampled`` ``(oversampling·N_y, oversampling·N_x)`` (the kept frequencies
        ``k = (index − oversampling·N//2) / oversampling`` cycles per FOV).
    """
    from scipy.spatial import cKDTree

    pd = np.asarray(pd, dtype=np.float64)
    (my, mx), (ny, nx) = pd.shape, (int(image_shape[0]), int(image_shape[1]))
    s = max(1, int(oversampling))
    k = np.asarray(trajectory, dtype=np.float64).reshape(-1, 3)[:, 1:]
    k = k[np.all(np.isfinite(k), axis=1)]
    fy = (np.arange(s * ny) - s * ny // 2) / s
    fx = (np.arange(s * nx) - s * nx // 2) / s
    grid = np.stack(np.meshgrid(fy, fx, indexing="ij"), axis=-1).reshape(-1, 2)
    if s == 1:  # on the recon grid k and k ± N are one frequency (EPI lines sampling kx = +N/2)
        n = np.array([ny, nx], dtype=np.float64)

        def wrap(v: np.ndarray) -> np.ndarray:
            w = np.mod(v + n / 2, n)
            return np.where(w >= n, 0.0, w)  # np.mod(-tiny, n) rounds to n

        tree = cKDTree(wrap(k), boxsize=n)
        dist, _ = tree.query(wrap(grid), p=np.inf, distance_upper_bound=reach)
    else:
        dist, _ = cKDTree(k).query(grid, p=np.inf, distance_upper_bound=reach)
    sampled = np.isfinite(dist).reshape(fy.size, fx.size)

    def forward(f: np.ndarray, m: int) -> np.ndarray:
        e = np.exp(-2j * np.pi * f[:, None] * (np.arange(m) - m // 2)[None, :] / m)
        return e * np.sinc(f / m)[:, None] if voxel_shape == "box" else e

    def back(f: np.ndarray, n: int) -> np.ndarray:
        return np.exp(2j * np.pi * (np.arange(n) - n // 2)[:, None] * f[None, :] / n)

    spectrum = forward(fy, my) @ pd @ forward(fx, mx).T * sampled / (my * mx)  # F(k), FOV = 1
    ideal = np.abs(back(fy, ny) @ spectrum @ back(fx, nx).T) / s**2
    reference = _overlap(ny, my) @ pd @ _overlap(nx, mx).T
    return ideal, reference, sampled

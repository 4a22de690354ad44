"""MR fingerprinting straight from non-Cartesian raw data: set-up, gridding, subspace matching.

Input: one 2D slice, one readout set per frame (``data (frame, coils, 1, k1, k0)``, trajectory
``(frame, 1, k1, k0, 3)``, e.g. one golden-angle spoke or spiral interleave per frame, as
:func:`~recon_engine.simulate.mrf_raw.simulate_mrf_raw` writes), the FISP flip-angle schedule
(one angle per frame) and TR.

:func:`mrf_raw_setup_steps` prewhitens, gets one set of coil maps from all readouts together,
simulates the FISP dictionary (:func:`~recon_engine.qmri.mrf.mrf_dictionary_steps`), takes the
temporal basis ``U`` from its SVD and builds the encoding
:class:`~recon_engine.reconstructions.subspace_nufft.SubspaceNUFFT` ``A = √W NUFFT_t S U``
(``W``: density compensation of the union of all readouts). The methods then differ only in the
coefficient images ``α (K, y, x)``:

- gridding (:func:`mrf_gridding_steps`): ``α = Uᴴ x_grid`` with ``x_grid,t = Sᴴ NUFFT_tᴴ W_t y_t``
  the density-compensated adjoint of every frame, coil-combined: the classical reconstruction
  with SVD-compressed matching (McGivney et al. 2014), computed in the compressed domain
  (``α = Aᴴ √W y``, one NUFFT; the frames are never formed);
- subspace (``subspace_steps``): ``α`` minimises ``‖A α − √W y‖²`` (CG);
- PnP (``pnp_steps``): ADMM over ``α`` with a denoiser.

:func:`match_coefficients` matches ``α`` per voxel against the compressed dictionary ``D U``
(``⟨d, U α⟩ = ⟨Uᴴ d, α⟩``): T1, T2, M0 (magnitude), correlation; ``observed_data`` holds the
phase-corrected series ``Re(e^{−iφ} U α)`` for the voxel curves.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from recon_engine.calibration.coil_maps import estimate_coil_maps
from recon_engine.calibration.density import DENSITY_METHODS, density_compensation
from recon_engine.data.kspace import KSpace
from recon_engine.device import DeviceLike, resolve_device
from recon_engine.errors import DataError, ParameterError
from recon_engine.progress import ProgressEvent, Steps
from recon_engine.qmri._model import SignalModel
from recon_engine.qmri._prepare import make_mask, resolve_options
from recon_engine.qmri._raw import sampling_values
from recon_engine.qmri.models import get_model
from recon_engine.qmri.mrf import mrf_dictionary_steps
from recon_engine.qmri.result import FitResult
from recon_engine.reconstructions._iterative import prepare_steps
from recon_engine.reconstructions.subspace_nufft import SubspaceNUFFT
from recon_engine.solvers.dictionary import match_dictionary

__all__ = [
    "MRFRawSetup",
    "basis_from_atoms",
    "is_noncartesian",
    "match_coefficients",
    "mrf_gridding_steps",
    "mrf_raw_setup_steps",
]


def is_noncartesian(kspace: KSpace) -> bool:
    """True for raw data with a trajectory (mapped by the MRF path of this module)."""
    return kspace.trajectory is not None


def basis_from_atoms(
    atoms: torch.Tensor | np.ndarray, *, energy: float = 0.999, rank: int | None = None
) -> tuple[np.ndarray, float]:
    """Temporal basis ``U`` (float32 ``(n, K)``, orthonormal columns) of a dictionary and its retained energy.

    Parameters
    ----------
    atoms
        ``(G, n)`` atoms (normalised here; all-zero atoms are dropped).
    energy
        Keep the fewest right singular vectors whose squared singular values reach this fraction.
    rank
        Fixed rank instead (``1 ≤ rank ≤ n``).
    """
    return _select_basis(*_svd(atoms), energy=energy, rank=rank)


def _svd(atoms: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Singular values and right singular vectors of the normalised non-zero atoms (float64)."""
    a = torch.as_tensor(np.asarray(atoms) if not isinstance(atoms, torch.Tensor) else atoms).to(torch.float64)
    norms = a.norm(dim=1, keepdim=True)
    a = a[norms[:, 0] > 0] / norms[norms[:, 0] > 0]
    if a.shape[0] == 0:
        raise DataError("the dictionary has no non-zero atom")
    _, s, vh = torch.linalg.svd(a, full_matrices=False)
    return s, vh


def _select_basis(
    s: torch.Tensor, vh: torch.Tensor, *, energy: float, rank: int | None
) -> tuple[np.ndarray, float]:
    n = int(vh.shape[1])
    frac = torch.cumsum(s.square(), 0) / s.square().sum()
    if rank is None:
        if not 0 < energy <= 1:
            raise ParameterError(f"the subspace energy must be in (0, 1], got {energy}")
        k = int(torch.searchsorted(frac, torch.tensor(energy - 1e-12, dtype=frac.dtype)).item()) + 1
    else:
        if int(rank) != rank or not 1 <= rank <= n:
            raise ParameterError(f"the subspace rank must be an integer in 1..{n}, got {rank}")
        k = int(rank)
    k = min(k, int(vh.shape[0]))
    return vh[:k].T.numpy().astype(np.float32), float(frac[k - 1])


@dataclass
class MRFRawSetup:
    """What every non-Cartesian MRF method starts from.

    Attributes
    ----------
    encoding
        The subspace encoding (coefficient images ``(K, y, x)`` ↔ weighted data).
    data
        Weighted measured data ``√W y`` ``(n, coils, P)``.
    atoms, parameters
        The FISP dictionary ``(G, n)`` float32 and its ``"t1"``, ``"t2"`` ``(G,)`` (ms).
    basis
        ``U`` float32 ``(n, K)``; ``energy_retained`` its dictionary energy fraction.
    spec, flip_angles, options
        The ``mrf`` model, the schedule (deg) and the resolved model options.
    density
        The density compensation used.
    """

    encoding: SubspaceNUFFT
    data: torch.Tensor
    atoms: np.ndarray
    parameters: dict[str, np.ndarray]
    basis: np.ndarray
    energy_retained: float
    spec: SignalModel
    flip_angles: np.ndarray
    options: dict[str, object]
    density: str

    @property
    def rhs(self) -> torch.Tensor:
        """``Aᴴ √W y`` ``(K, y, x)``."""
        return self.encoding.adjoint(self.data)

    def expand(self, a: torch.Tensor) -> torch.Tensor:
        """``U α``: ``(K, y, x)`` → ``(n, y, x)``."""
        return torch.einsum("nk,kyx->nyx", self.encoding.u, a)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """``Uᴴ x``: ``(n, y, x)`` → ``(K, y, x)``."""
        return torch.einsum("nk,nyx->kyx", self.encoding.u.conj(), x)

    def normal(self, a: torch.Tensor) -> torch.Tensor:
        """``UᴴAᴴAU α`` (Toeplitz)."""
        return self.encoding.normal(a)

    def preview(self, a: torch.Tensor) -> np.ndarray:
        """``|α_0|`` (the first coefficient image, proton-density-like) float32 ``(y, x)``."""
        return np.asarray(a[0].abs().cpu().numpy(), dtype=np.float32)


def _merged_readouts(kspace: KSpace) -> KSpace:
    """All frames' readouts as one volume (for one set of coil maps)."""
    d = kspace.data  # (frames, coils, 1, k1, k0)
    traj = kspace.trajectory
    assert traj is not None
    frames, coils, _, k1, k0 = d.shape
    t = torch.broadcast_to(traj, (frames, *traj.shape[-4:]))  # (frames, 1, k1, k0, 3)
    data = d[:, :, 0].permute(1, 0, 2, 3).reshape(coils, 1, frames * k1, k0)
    mask = kspace.sampling_mask
    if mask.numel():
        sampled = torch.broadcast_to(mask.to(torch.bool), (frames, 1, k1)).reshape(1, frames * k1)
    else:
        sampled = torch.ones(1, frames * k1, dtype=torch.bool)
    return replace(
        kspace,
        data=data,
        trajectory=t[:, 0].reshape(1, frames * k1, k0, 3),
        sampling_mask=sampled,
        calibration_mask=torch.zeros(1, frames * k1, dtype=torch.bool),
        other_axes=(),
        noise=None,
    )


def _check_layout(kspace: KSpace) -> None:
    if kspace.trajectory is None:
        raise DataError("non-Cartesian MRF mapping needs a trajectory")
    if len(kspace.other_axes) != 1 or kspace.data.ndim != 5:
        raise DataError(
            "MRF from raw data needs one frame axis: data (frame, coils, 1, k1, k0) with a trajectory "
            f"(frame, 1, k1, k0, 3); got other axes {kspace.other_axes} and shape {tuple(kspace.data.shape)}"
        )
    if kspace.data.shape[2] != 1:
        raise DataError("MRF from raw data supports 2D acquisitions (one slice, k2 = 1)")
    if kspace.data.shape[0] < 8:
        raise DataError(f"an MRF acquisition needs at least 8 frames, got {kspace.data.shape[0]}")
    traj = kspace.trajectory
    want = (kspace.data.shape[0], 1, *kspace.data.shape[-2:], 3)
    if traj.ndim != 5 or tuple(traj.shape[1:]) != want[1:] or traj.shape[0] not in (1, want[0]):
        raise DataError(
            f"the trajectory {tuple(traj.shape)} does not match the data {tuple(kspace.data.shape)}: "
            f"expected {want} (one readout set per frame, in cycles per FOV)"
        )


@dataclass
class _Dictionary:
    atoms: np.ndarray
    parameters: dict[str, np.ndarray]
    svd: tuple[torch.Tensor, torch.Tensor] | None = None


#: Dictionaries (and their SVDs) of the last schedules: simulating 50,000 atoms × 300 frames takes
#: seconds, their SVD about one.
_DICTIONARIES: OrderedDict[tuple[object, ...], _Dictionary] = OrderedDict()
_MAX_DICTIONARIES = 2


def _grid_key(v: object) -> object:
    return None if v is None else np.asarray(v, np.float64).tobytes()


def _dictionary_steps(
    spec: SignalModel, fa: np.ndarray, opts: dict[str, object], dev: torch.device
) -> Steps[_Dictionary]:
    """:func:`~recon_engine.qmri.mrf.mrf_dictionary_steps`, remembered for the last schedules."""
    key = (
        np.asarray(fa, np.float64).tobytes(), opts.get("tr"), opts.get("te"), opts.get("inversion_time"),
        opts.get("n_states"), _grid_key(opts.get("t1_grid")), _grid_key(opts.get("t2_grid")),
    )  # fmt: skip
    if key in _DICTIONARIES:
        _DICTIONARIES.move_to_end(key)
        return _DICTIONARIES[key]
    atoms, params = yield from mrf_dictionary_steps(spec, fa, opts, dev)
    _DICTIONARIES[key] = _Dictionary(np.asarray(atoms, np.float32), params)
    while len(_DICTIONARIES) > _MAX_DICTIONARIES:
        _DICTIONARIES.popitem(last=False)
    return _DICTIONARIES[key]


def mrf_raw_setup_steps(
    kspace: KSpace,
    model: str = "mrf",
    *,
    flip_angles: Sequence[float] | np.ndarray | None = None,
    tr: float | None = None,
    maps: np.ndarray | torch.Tensor | None = None,
    coil_maps: str = "espirit",
    density: str = "pipe",
    rank: int | None = None,
    energy: float = 0.9999,
    prewhitening: bool = True,
    device: DeviceLike = "auto",
    model_options: Mapping[str, object] | None = None,
) -> Steps[MRFRawSetup]:
    """Checks, prewhitening, coil maps, dictionary, basis and subspace encoding (generator).

    Parameters
    ----------
    kspace
        One 2D slice, one readout set per frame (see the module docstring).
    model
        ``"mrf"`` (the only model mapped from non-Cartesian raw data).
    flip_angles, tr
        The schedule (deg, one per frame) and TR (ms); default: the raw header.
    maps
        True coil maps ``(n_maps = 1, coils, 1, y, x)`` (or ``(coils, 1, y, x)``) on the recon
        matrix in the raw coil space; None estimates them (``coil_maps``) from all readouts.
    density
        Sample weights ``W``: ``"pipe"``, ``"voronoi"`` or ``"none"``, computed on the union of
        the readouts of all frames.
    rank, energy
        Subspace rank, or the dictionary energy that chooses it (:func:`basis_from_atoms`).
    model_options
        ``mrf`` model options (``inversion_time``, ``te``, ``t1_grid``, ``t2_grid``,
        ``n_states``); ``rank`` / ``energy`` of the model are unused here.

    Raises
    ------
    ParameterError
        Another model, an unknown density method, a schedule that does not have one angle per frame.
    DataError
        Not one frame axis, a 3D acquisition, a trajectory that does not match the data.
    """
    if model != "mrf":
        raise ParameterError(
            f"non-Cartesian raw data are mapped with the MR fingerprinting model only (model 'mrf'), "
            f"got {model!r}"
        )
    if density not in DENSITY_METHODS:
        raise ParameterError(f"unknown density compensation {density!r}; choose one of {DENSITY_METHODS}")
    _check_layout(kspace)
    spec = get_model("mrf")
    fa = sampling_values(kspace, spec, None, flip_angles)
    if not np.all(np.isfinite(fa)) or np.any(fa <= 0):
        raise ParameterError(f"the flip angles must be positive and finite, got {fa.tolist()}")
    given = dict(model_options or {})
    # the header's TI: the delay after the inversion
    if "inversion_time" not in given and kspace.header.ti_ms:
        given["inversion_time"] = float(kspace.header.ti_ms[0])
    opts = resolve_options(spec, given)
    if tr is None and kspace.header.tr_ms:
        tr = float(kspace.header.tr_ms[0])
    if tr is not None:
        opts["tr"] = float(tr)
    opts = spec.check(opts, torch.as_tensor(fa))
    dev = resolve_device(device)
    if maps is None:
        yield ProgressEvent("coil maps", 0, 0)
        maps = estimate_coil_maps(_merged_readouts(kspace), method=coil_maps, device=dev, n_maps=1)  # type: ignore[arg-type]
    problem = yield from prepare_steps(
        kspace, coil_maps="espirit", maps=maps, prewhitening=prewhitening, device=dev, density=density
    )
    if problem.maps.shape[-5] != 1 or problem.maps.ndim != 5:
        raise DataError(
            f"MRF mapping needs one set of coil maps (1, coils, 1, y, x), got {tuple(problem.maps.shape)}"
        )
    frames = int(kspace.data.shape[0])
    assert problem.trajectory is not None
    traj = torch.broadcast_to(problem.trajectory, (frames, *problem.trajectory.shape[-4:]))
    traj = traj.reshape(frames, -1, 3)
    shape = (int(problem.image_shape[-2]), int(problem.image_shape[-1]))
    y = problem.data.reshape(frames, problem.data.shape[1], -1)
    mask = problem.mask.reshape(frames, -1)
    if not bool(mask.all()):  # unacquired readouts: weight 0
        per = traj.shape[1] // mask.shape[1]
        sampled = mask.repeat_interleave(per, dim=1).to(dev)
    else:
        sampled = None
    yield ProgressEvent("density compensation", 0, 0)
    w = density_compensation(traj.reshape(-1, 3), shape, density, device=dev).reshape(frames, -1)  # type: ignore[arg-type]
    if sampled is not None:
        w = w * sampled
    w = w / w.mean().clamp_min(1e-30)
    dictionary = yield from _dictionary_steps(spec, fa, opts, dev)
    if dictionary.svd is None:
        dictionary.svd = _svd(dictionary.atoms)
    u, kept = _select_basis(*dictionary.svd, energy=energy, rank=rank)
    atoms, params = dictionary.atoms, dictionary.parameters
    enc = SubspaceNUFFT(traj, shape, u, problem.maps[0, :, 0], weights=w, device=dev)
    return MRFRawSetup(
        encoding=enc, data=enc.weigh(y), atoms=np.asarray(atoms, np.float32), parameters=params,
        basis=u, energy_retained=kept, spec=spec, flip_angles=fa, options=opts, density=density,
    )  # fmt: skip


def match_coefficients(
    setup: MRFRawSetup,
    coef: torch.Tensor,
    method: str,
    extra: Mapping[str, object],
    *,
    mask_threshold: float | None = 0.05,
    device: DeviceLike = "auto",
) -> Steps[FitResult]:
    """Match coefficient images ``(K, y, x)`` against the compressed dictionary ``D U`` (generator).

    Returns
    -------
    FitResult
        Maps ``t1``, ``t2`` (ms), ``m0``, ``correlation``, ``r2``, ``residual`` (in the subspace),
        NaN outside the mask (voxels whose ``‖α‖`` is below ``mask_threshold`` of the largest);
        ``options`` the model options plus ``method``, ``rank``, ``energy_retained``,
        ``density`` and ``extra``.
    """
    k, ny, nx = coef.shape
    flat = coef.reshape(k, -1).cpu()
    norm = flat.abs().square().sum(0).sqrt().numpy()[None]  # (1, V)
    keep = make_mask(norm, (ny, nx), None, mask_threshold)
    if not keep.any():
        raise DataError("no voxel to match: the coefficient images are zero or below the mask threshold")
    yield ProgressEvent("matching", 0, 1)
    compressed = setup.atoms.astype(np.float64) @ setup.basis.astype(np.float64)  # (G, K)
    signals = flat[:, torch.from_numpy(keep)].T.numpy()  # (V, K)
    match = match_dictionary(
        signals, compressed.astype(np.float32), setup.parameters, rank=None, energy=None, device=device
    )
    m0 = match.m0
    ss = np.sum(np.abs(signals.astype(np.complex128)) ** 2, axis=1)
    ss_res = ss * (1.0 - match.correlation.astype(np.float64) ** 2)
    n = setup.flip_angles.size
    mean = (signals.astype(np.complex128) @ setup.basis.T.astype(np.float64)).mean(1)  # (V,) mean over frames
    ss_tot = np.maximum(ss - n * np.abs(mean) ** 2, 1e-30)
    values = {
        "t1": match.parameters["t1"],
        "t2": match.parameters["t2"],
        "m0": np.abs(m0).astype(np.float32),
        "correlation": match.correlation,
        "r2": (1.0 - ss_res / ss_tot).astype(np.float32),
        "residual": np.sqrt(ss_res / n).astype(np.float32),
    }
    maps = {}
    for name, v in values.items():
        out = np.full(keep.shape, np.nan, np.float32)
        out[keep] = v
        maps[name] = out.reshape(ny, nx)
    phase = np.exp(-1j * np.angle(m0))
    series = (signals * phase[:, None]) @ setup.basis.T.astype(np.complex64)  # (V, n)
    observed = np.full((n, keep.size), np.nan, np.float32)
    observed[:, keep] = series.real.T
    units = {name: setup.spec.info.units.get(name, "") for name in maps}
    units.update({"r2": "", "residual": "a.u."})
    yield ProgressEvent("matching", 1, 1, preview=maps["t1"].copy(), metrics={"rank": float(k)})
    options = {
        **setup.options, "method": method, "rank": int(k), "energy_retained": setup.energy_retained,
        "density": setup.density, **dict(extra),
    }  # fmt: skip
    return FitResult(
        model="mrf", maps=maps, units=units, sd={}, mask=keep.reshape(ny, nx), times=setup.flip_angles.copy(),
        options=options, observed_data=observed.reshape(n, ny, nx), magnitude=False,
    )  # fmt: skip


def mrf_gridding_steps(
    kspace: KSpace,
    model: str = "mrf",
    *,
    times: Sequence[float] | np.ndarray | None = None,
    flip_angles: Sequence[float] | np.ndarray | None = None,
    tr: float | None = None,
    maps: np.ndarray | torch.Tensor | None = None,
    coil_maps: str = "espirit",
    density: str = "pipe",
    rank: int | None = None,
    energy: float = 0.9999,
    mask_threshold: float | None = 0.05,
    prewhitening: bool = True,
    device: DeviceLike = "auto",
    **model_options: object,
) -> Steps[FitResult]:
    """Gridding + dictionary matching of non-Cartesian MRF raw data (generator).

    Every frame is reconstructed by the density-compensated adjoint NUFFT and coil-combined with
    the maps, then matched with the SVD-compressed dictionary (rank from ``energy``, default
    99.99 %, as the image-domain ``mrf`` fit); computed in the compressed domain (see the module
    docstring). Parameters as for :func:`mrf_raw_setup_steps`; ``mask_threshold`` as for
    :func:`match_coefficients`; ``times`` is unused (the signature of the other mapping methods:
    MRF takes ``flip_angles``).

    Returns
    -------
    FitResult
        ``options["method"] = "gridding"``.
    """
    setup = yield from mrf_raw_setup_steps(
        kspace, model, flip_angles=flip_angles, tr=tr, maps=maps, coil_maps=coil_maps, density=density,
        rank=rank, energy=energy, prewhitening=prewhitening, device=device, model_options=model_options,
    )  # fmt: skip
    yield ProgressEvent("gridding", 0, 1)
    coef = setup.rhs
    yield ProgressEvent("gridding", 1, 1, setup.preview(coef))
    return (
        yield from match_coefficients(
            setup, coef, "gridding", {}, mask_threshold=mask_threshold, device=device
        )
    )

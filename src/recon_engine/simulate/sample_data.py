"""The project's sample data: small, reproducible ISMRMRD phantom scans.

Three 2D Cartesian acquisitions of the modified Shepp–Logan phantom with 8 birdcage
coils, a 128 × 128 matrix, 2× readout oversampling and a noise scan each:
fully sampled, R = 2 and R = 4 (24 embedded calibration lines). They are simulated on a
256 × 256 grid and cropped in k-space, so the "truth" is not the inverse FFT of the data
(no inverse crime). Generation is deterministic down to the bytes (fixed seeds, fixed
time stamps, no dates in the header, HDF5 timestamps off).

A development checkout has them in ``sample_data/`` (made by
``scripts/make_sample_data.py``); an installed package generates them on first use into
the user cache (``$XDG_CACHE_HOME/napari-mrrecon/sample_data``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from recon_engine.data.kspace import KSpace
from recon_engine.errors import ParameterError
from recon_engine.io.ismrmrd_write import write_ismrmrd
from recon_engine.simulate.acquire import simulate_cartesian
from recon_engine.simulate.coils import birdcage_sensitivities
from recon_engine.simulate.phantom import shepp_logan

__all__ = [
    "QMRI_MRF_SAMPLE",
    "QMRI_RAW_SAMPLE",
    "SAMPLES",
    "cache_dir",
    "make_sample_data",
    "qmri_raw_sample",
    "repo_sample_dir",
    "sample_path",
    "simulate_sample",
]

#: Sample files and what they show.
SAMPLES: dict[str, str] = {
    "phantom_full.h5": "Shepp–Logan phantom, 8 coils, 128×128, fully sampled 2D Cartesian, 2× readout "
    "oversampling, noise scan",
    "phantom_R2.h5": "Same phantom, R = 2 along phase encoding with 24 embedded calibration lines "
    "(GRAPPA/SENSE demo)",
    "phantom_R4.h5": "Same phantom, R = 4 along phase encoding with 24 embedded calibration lines "
    "(strong aliasing, g-factor noise)",
}

_ACCELERATION: dict[str, tuple[int, int, int]] = {  # name: (R, calibration lines, seed)
    "phantom_full.h5": (1, 0, 101),
    "phantom_R2.h5": (2, 24, 102),
    "phantom_R4.h5": (4, 24, 104),
}

_TILT = np.deg2rad(12.0)  # transverse slice tilted 12° towards coronal
#: Protocol shared by all samples: a 3 T spoiled gradient echo.
PROTOCOL: dict[str, Any] = {
    "readout_oversampling": 2,
    "noise_std": 0.01,
    "n_noise_samples": 4096,
    "fov_mm": (220.0, 220.0, 5.0),
    "position_mm": (4.5, -12.0, 28.0),
    "read_dir": (1.0, 0.0, 0.0),
    "phase_dir": (0.0, float(np.cos(_TILT)), float(-np.sin(_TILT))),
    "te_ms": (4.6,),
    "tr_ms": (250.0,),
    "flip_angle_deg": (70.0,),
    "field_strength_t": 3.0,
    "sample_time_us": 10.0,
}
_MATRIX = 128
_SIM_GRID = 256
_N_COILS = 8


#: The simulated multi-contrast raw samples (qMRI Fitting dock): 64², 8 coils, R = 4 with 12
#: central lines in every contrast (enough for ESPIRiT), noise SD 0.002 per sample (PD = 1).
QMRI_RAW_SAMPLE: dict[str, Any] = {
    "n": 64,
    "acceleration": 4,
    "n_coils": 8,
    "calibration_lines": 12,
    "noise_std": 0.002,
    "seed": 11,
}


#: The simulated MR fingerprinting raw sample: FISP, 300 frames, one golden-angle radial spoke per
#: frame (128 samples, 2× readout oversampling), 64², 8 coils, noise SD 0.002 (about 1 s to make on
#: one CPU thread).
QMRI_MRF_SAMPLE: dict[str, Any] = {
    "n": 64,
    "n_frames": 300,
    "n_coils": 8,
    "trajectory": "radial",
    "noise_std": 0.002,
    "seed": 11,
}


def qmri_raw_sample(kind: str) -> Any:
    """A simulated undersampled multi-coil multi-contrast raw dataset of the tissue phantom.

    Made in memory (nothing is written): the Cartesian kinds in well under a second by
    :func:`~recon_engine.simulate.qmri_raw.simulate_qmri_raw` with :data:`QMRI_RAW_SAMPLE`;
    ``"mrf"`` in about a second by :func:`~recon_engine.simulate.mrf_raw.simulate_mrf_raw` with
    :data:`QMRI_MRF_SAMPLE`.

    Parameters
    ----------
    kind
        ``"ir"`` (8 TIs, 50–4000 ms), ``"mese"`` (12 echoes, 10 ms spacing), ``"molli"``, ``"vfa"``,
        or ``"mrf"`` (FISP fingerprinting, 300 frames, one golden-angle radial spoke per frame).

    Returns
    -------
    recon_engine.simulate.qmri_raw.QMRIRaw
        Cartesian kinds: ``kspace.data`` complex64 ``(contrast, 8, 1, 64, 64)`` with
        ``other_axes = ("contrast",)``, the per-contrast ``sampling_mask`` ``(contrast, 1, 64)``
        and the truth maps. ``"mrf"``: ``kspace.data`` ``(300, 8, 1, 1, 128)`` with
        ``other_axes = ("repetition",)``, ``kspace.trajectory`` ``(300, 1, 1, 128, 3)`` (cycles per
        FOV), the flip angles, TR (12 ms) and TI (20 ms) in the header, and the truth maps.
    """
    from recon_engine.simulate.qmri_raw import QMRI_CARTESIAN_KINDS, simulate_qmri_raw

    if kind == "mrf":
        from recon_engine.simulate.mrf_raw import simulate_mrf_raw

        return simulate_mrf_raw(**QMRI_MRF_SAMPLE)
    if kind not in QMRI_CARTESIAN_KINDS:
        choices = ", ".join((*QMRI_CARTESIAN_KINDS, "mrf"))
        raise ParameterError(f"unknown qMRI raw sample {kind!r}; choose one of {choices}")
    return simulate_qmri_raw(kind, **QMRI_RAW_SAMPLE)


def _check(name: str) -> None:
    if name not in SAMPLES:
        raise ParameterError(f"unknown sample {name!r}; choose one of {sorted(SAMPLES)}")


def simulate_sample(name: str) -> KSpace:
    """Simulate one sample file's k-space (deterministic).

    Parameters
    ----------
    name
        A key of :data:`SAMPLES`.

    Returns
    -------
    KSpace
        ``data`` complex64 ``(8, 1, 128, 256)`` (coils, k2, k1, k0).
    """
    _check(name)
    r, cal, seed = _ACCELERATION[name]
    image = shepp_logan(_SIM_GRID)
    maps = birdcage_sensitivities(_N_COILS, (_SIM_GRID, _SIM_GRID))
    return simulate_cartesian(
        image,
        maps,
        matrix=(_MATRIX, _MATRIX),
        acceleration=r,
        calibration_lines=cal,
        seed=seed,
        protocol_name=f"napari-mrrecon sample {Path(name).stem}",
        **PROTOCOL,
    )


def make_sample_data(directory: str | os.PathLike[str], names: list[str] | None = None) -> list[Path]:
    """Write the sample files into ``directory`` (created if missing), replacing old ones.

    Parameters
    ----------
    directory
        Output folder.
    names
        Subset of :data:`SAMPLES` (default: all).

    Returns
    -------
    list[Path]
        The written files.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or list(SAMPLES):
        _check(name)
        paths.append(write_ismrmrd(simulate_sample(name), out / name, overwrite=True))
    return paths


def repo_sample_dir() -> Path:
    """``sample_data/`` of a development checkout (may not exist in an installed package)."""
    return Path(__file__).resolve().parents[3] / "sample_data"


def cache_dir() -> Path:
    """User cache folder for generated samples: ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "napari-mrrecon" / "sample_data"


def sample_path(name: str) -> Path:
    """Path of a sample file, generating it into the user cache when needed.

    Parameters
    ----------
    name
        A key of :data:`SAMPLES`, e.g. ``"phantom_R4.h5"``.

    Returns
    -------
    Path
        ``sample_data/<name>`` of the checkout when present, else the cached copy.

    Raises
    ------
    ParameterError
        For an unknown name.
    """
    _check(name)
    repo = repo_sample_dir() / name
    if repo.is_file():
        return repo
    cached = cache_dir() / name
    if not cached.is_file():
        make_sample_data(cached.parent, [name])
    return cached

"""The benchmark's fixed, seeded problem set (P1 Cartesian, P2 radial, 3D, P3 T1, P4 MRF, P5, P6).

Every problem is simulated from the modified Shepp–Logan phantom with birdcage coils
(normalised, ``Σ_c |S_c|² = 1``) and a fixed noise seed, so every run, tool and machine sees
the same numbers. ``quick=True`` shrinks the sizes for the CI smoke test.

- **P1** Cartesian 2D, 256² (quick 64²), 16 coils (quick 8), every 4th ``k1`` line plus 24
  central lines (quick 16), complex noise σ = 0.005, no readout oversampling.
- **P2** golden-angle radial, 64 spokes × 256 samples (quick 32 × 64) on a 256² matrix,
  16 coils (quick 8), σ = 0.005.
- **3D** Cartesian 128³ (quick 32³), 8 coils on two rings, every 2nd ``k1`` line plus 24
  central lines (quick 8), σ = 0.005.
- **P3** inversion recovery 256² (quick 32²) × 8 inversion times, magnitude data with
  Rician-free Gaussian noise σ = 0.005 on the signed signal.
- **P4** MR fingerprinting: 65,536 voxels × 500 frames against 10,000 atoms (quick 1,024 ×
  100 vs 500); the atoms are smooth, normalised random curves (the matching cost does not
  depend on the signal model); each voxel is one atom times a random complex scale plus
  noise.
- **P5** (suite ``qmri-raw``) multi-coil undersampled inversion recovery raw data of the tissue
  phantom (:func:`recon_engine.simulate.qmri_raw.simulate_qmri_raw` ``"ir"``): ``n²`` (default
  128, quick 32), 8 TIs, 8 coils, R = 6 on a lattice shifted per contrast plus 8 central lines,
  noise SD 0.003 per k-space sample, seed 1 (the set-up of ``scripts/qmri_figures.py``).
- **P6** (suite ``simulation``) a 2D spoiled GRE ``.seq`` (``n × n`` Cartesian, default 128,
  quick 32; TR 10 ms, flip 15°, sinc excitation, RF and gradient spoiling; built with pypulseq
  by :func:`recon_engine.simulate._seq_examples.gre` and decoded once by the engine's reader)
  simulated on the brain phantom with 8 coils, one isochromat per voxel.
- Training (suite ``learned``) draws its own seeded batches (:mod:`recon_engine.learned.train`).
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recon_engine.data.kspace import KSpace
from recon_engine.simulate.acquire import simulate_cartesian
from recon_engine.simulate.coils import birdcage_sensitivities
from recon_engine.simulate.phantom import shepp_logan, shepp_logan_3d, tissue_maps
from recon_engine.simulate.trajectories import radial, simulate_noncartesian

if TYPE_CHECKING:  # P5/P6 modules are imported when those problems are built
    from recon_engine.io.pulseq import PulseqSequence
    from recon_engine.simulate.qmri_raw import QMRIRaw

__all__ = [
    "CartesianProblem",
    "MRFProblem",
    "RadialProblem",
    "T1Problem",
    "cartesian_2d",
    "cartesian_3d",
    "gre_sequence",
    "mrf_problem",
    "qmri_raw_problem",
    "radial_2d",
    "t1_problem",
]

NOISE_STD = 0.005
SEED = 20261121
#: Matrix of P5 and P6 (``--matrix`` changes it): full and quick.
RAW_MATRIX, RAW_MATRIX_QUICK = 128, 32


@dataclass(frozen=True)
class CartesianProblem:
    """A Cartesian multi-coil problem.

    Attributes
    ----------
    kspace
        ``data`` complex64 ``(coils, k2, k1, k0)`` (unsampled lines 0), no readout oversampling.
    maps
        True coil maps complex64 ``(coils, z, y, x)``, ``Σ_c |S_c|² = 1``.
    truth
        The object complex64 ``(z, y, x)``.
    calibration_lines
        Width of the fully sampled central ``k1`` block.
    """

    kspace: KSpace
    maps: np.ndarray
    truth: np.ndarray
    calibration_lines: int

    @property
    def data(self) -> np.ndarray:
        """complex64 ``(coils, k2, k1, k0)``."""
        return np.ascontiguousarray(self.kspace.data.numpy())


@dataclass(frozen=True)
class RadialProblem:
    """A golden-angle radial multi-coil problem.

    Attributes
    ----------
    kspace
        ``data`` complex64 ``(coils, 1, spokes, samples)``, ``trajectory`` ``(1, spokes, samples, 3)``.
    maps
        True coil maps complex64 ``(coils, y, x)``.
    truth
        complex64 ``(y, x)``.
    """

    kspace: KSpace
    maps: np.ndarray
    truth: np.ndarray

    @property
    def matrix(self) -> tuple[int, int]:
        """``(y, x)``."""
        return (int(self.truth.shape[0]), int(self.truth.shape[1]))

    @property
    def points(self) -> np.ndarray:
        """float32 ``(n_points, 3)`` ``(kz, ky, kx)`` in cycles per FOV."""
        assert self.kspace.trajectory is not None
        return np.ascontiguousarray(self.kspace.trajectory.numpy().reshape(-1, 3))

    @property
    def samples(self) -> np.ndarray:
        """complex64 ``(coils, n_points)``."""
        return np.ascontiguousarray(self.kspace.data.numpy().reshape(self.kspace.data.shape[0], -1))


@dataclass(frozen=True)
class T1Problem:
    """Inversion-recovery series ``|a − b·exp(−TI/T1)|``.

    Attributes
    ----------
    series
        float32 ``(n_ti, y, x)`` magnitude images.
    times
        float64 ``(n_ti,)`` inversion times (ms).
    t1
        float32 ``(y, x)`` true T1 (ms), 0 outside the object.
    mask
        bool ``(y, x)`` voxels with signal.
    """

    series: np.ndarray
    times: np.ndarray
    t1: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class MRFProblem:
    """Dictionary matching: voxels against atoms.

    Attributes
    ----------
    signals
        complex64 ``(n_voxels, n_frames)``.
    dictionary
        complex64 ``(n_atoms, n_frames)``, unit-norm rows.
    truth
        int64 ``(n_voxels,)`` the atom each voxel was made from.
    """

    signals: np.ndarray
    dictionary: np.ndarray
    truth: np.ndarray


@lru_cache(maxsize=2)
def cartesian_2d(quick: bool = False) -> CartesianProblem:
    """P1: 256² (quick 64²), 16 coils (quick 8), R = 4 plus 24 (quick 12) central lines."""
    n, coils, cal = (64, 8, 16) if quick else (256, 16, 24)
    image = shepp_logan(n).astype(np.complex64)
    maps = birdcage_sensitivities(coils, (n, n))
    kspace = simulate_cartesian(
        image,
        maps,
        acceleration=4,
        calibration_lines=cal,
        readout_oversampling=1,
        noise_std=NOISE_STD,
        n_noise_samples=0,
        seed=SEED,
    )
    return CartesianProblem(kspace, maps[:, None].astype(np.complex64), image[None], cal)


@lru_cache(maxsize=2)
def cartesian_3d(quick: bool = False) -> CartesianProblem:
    """3D: 128³ (quick 32³), 8 coils on two rings, R = 2 along ``k1`` plus 24 (quick 8) central lines."""
    n, cal = (32, 8) if quick else (128, 24)
    image = shepp_logan_3d(n).astype(np.complex64)
    maps = birdcage_sensitivities(8, (n, n, n), n_rings=2)
    kspace = simulate_cartesian(
        image,
        maps,
        acceleration=2,
        calibration_lines=cal,
        readout_oversampling=1,
        noise_std=NOISE_STD,
        n_noise_samples=0,
        seed=SEED + 3,
    )
    return CartesianProblem(kspace, maps.astype(np.complex64), image, cal)


@lru_cache(maxsize=2)
def radial_2d(quick: bool = False) -> RadialProblem:
    """P2: golden-angle radial, 64 spokes × 256 samples (quick 32 × 64), 16 coils (quick 8)."""
    n, spokes, coils = (64, 32, 8) if quick else (256, 64, 16)
    image = shepp_logan(n).astype(np.complex64)
    maps = birdcage_sensitivities(coils, (n, n))
    traj = radial(spokes, n, golden_angle=True, matrix=n)
    kspace = simulate_noncartesian(
        image, traj, maps, trajectory_name="goldenangle", noise_std=NOISE_STD, seed=SEED + 1
    )
    return RadialProblem(kspace, maps.astype(np.complex64), image)


@lru_cache(maxsize=2)
def t1_problem(quick: bool = False) -> T1Problem:
    """P3: inversion recovery, 256² (quick 32²) × 8 TIs, ``a = PD``, ``b = 2·PD``."""
    n = 32 if quick else 256
    times = np.array([50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 5000.0])
    tissue = tissue_maps(n)
    pd = tissue["pd"].astype(np.float64)
    t1 = tissue["t1_ms"].astype(np.float64)
    mask = (pd > 0.05) & (t1 > 0)
    safe_t1 = np.where(mask, t1, 1.0)
    signed = pd[None] * (1.0 - 2.0 * np.exp(-times[:, None, None] / safe_t1[None]))
    rng = np.random.default_rng(SEED + 2)
    noisy = np.abs(signed + NOISE_STD * rng.standard_normal(signed.shape))
    return T1Problem(noisy.astype(np.float32), times, np.where(mask, t1, 0).astype(np.float32), mask)


@lru_cache(maxsize=2)
def mrf_problem(quick: bool = False) -> MRFProblem:
    """P4: 65,536 voxels × 500 frames vs 10,000 atoms (quick 1,024 × 100 vs 500)."""
    n_vox, n_frames, n_atoms = (1024, 100, 500) if quick else (65536, 500, 10000)
    rng = np.random.default_rng(SEED + 4)
    # smooth random curves: a few low-frequency cosines per atom, complex
    t = np.linspace(0.0, 1.0, n_frames)
    k = np.arange(1, 9)
    basis = np.cos(math.pi * k[:, None] * t[None, :])  # (8, frames)
    coef = rng.standard_normal((n_atoms, 8, 2)) / k[None, :, None]
    atoms = (coef[..., 0] + 1j * coef[..., 1]) @ basis
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    truth = rng.integers(0, n_atoms, n_vox)
    scale = rng.uniform(0.5, 2.0, n_vox) * np.exp(1j * rng.uniform(-math.pi, math.pi, n_vox))
    noise = rng.standard_normal((n_vox, n_frames)) + 1j * rng.standard_normal((n_vox, n_frames))
    signals = scale[:, None] * atoms[truth] + 0.01 / math.sqrt(2 * n_frames) * noise
    return MRFProblem(signals.astype(np.complex64), atoms.astype(np.complex64), truth.astype(np.int64))


@lru_cache(maxsize=2)
def qmri_raw_problem(n: int = RAW_MATRIX) -> QMRIRaw:
    """P5: IR raw data ``n × n`` × 8 TIs, 8 coils, R = 6 + 8 central lines, noise SD 0.003, seed 1."""
    from recon_engine.simulate.qmri_raw import simulate_qmri_raw

    return simulate_qmri_raw(
        "ir", n=int(n), acceleration=6, n_coils=8, calibration_lines=8, noise_std=0.003, seed=1
    )


@lru_cache(maxsize=2)
def gre_sequence(n: int = RAW_MATRIX) -> PulseqSequence:
    """P6: the 2D spoiled GRE ``n × n`` (pypulseq), written and decoded once by the engine's reader."""
    from recon_engine.io.pulseq import read_seq
    from recon_engine.simulate import _seq_examples

    with tempfile.TemporaryDirectory(prefix="mrrecon_bench_") as tmp:
        path = Path(tmp) / f"gre_{int(n)}.seq"
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            _seq_examples.gre(int(n)).write(str(path))
        return read_seq(path)

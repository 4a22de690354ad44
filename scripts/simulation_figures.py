"""KomaMRI's .seq files simulated on the Shepp–Logan phantom and reconstructed: the docs table.

For each sequence of ``../shared/data/koma_pulseq_read_comparison`` that images (GRE, spiral,
EPI): :func:`recon_engine.simulate.simulate_seq` (Shepp–Logan PD, 1 coil, 1 isochromat per
voxel, ideal spoiling, CPU), then the ``direct`` reconstruction as ``mrrecon recon`` runs it
(EPI: the automatic N/2-ghost correction included), and the NRMSE (least-squares scaled
magnitude) and correlation against the phantom on the reconstruction grid (the simulated box
voxels averaged over each recon pixel), and the floor: the same NRMSE of the ideal
reconstruction of exactly the sampled k-space (the phantom's Fourier coefficients on the
recon grid, kept where the trajectory samples; :func:`sampled_kspace_reference`). Writes the
table between the markers in docs/simulation.md (``--no-docs``: print only).

    .venv/bin/python scripts/simulation_figures.py [--no-docs] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from _doc_blocks import write_block

import recon_engine as mr
from recon_engine.calibration.epi import estimate_epi_phase
from recon_engine.io.pulseq import read_seq
from recon_engine.reconstructions.auto import has_reversed_readouts
from recon_engine.simulate import shepp_logan, simulate_seq
from recon_engine.simulate._sim_phantom import load_maps, sampled_kspace_reference

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "simulation.md"
DATA = ROOT.parent / "shared" / "data" / "koma_pulseq_read_comparison"
BEGIN, END = "<!-- koma-simulation-table:begin -->", "<!-- koma-simulation-table:end -->"

_SL = shepp_logan(96)
#: Shepp–Logan PD on 96² with T2 = ∞: no decay during the spiral's 39 ms readout
NO_T2 = {"pd": _SL, "t1_ms": np.full(_SL.shape, 1000.0), "t2_ms": np.full(_SL.shape, np.inf)}
#: CG least squares (``sense`` with the one coil's map = 1), 30 iterations
CG30 = {
    "method": "sense",
    "maps": np.ones((1, 1, 1, 96, 96), np.complex64),
    "iterations": 30,
    "tolerance": 0.0,
}
DISC = "in the spiral's circular FOV"

#: (label, file, simulation options, reconstruction options, note); simulation option
#: ``phantom`` replaces the Shepp–Logan, ``score`` = DISC scores inside the inscribed disc
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = [
    ("GRE 256² Cartesian", "v1.3/gre.seq", {}, {}, ""),
    ("spiral (one 28 000-sample interleaf, 48 turns), 96² grid", "v1.4/spiral.seq", {}, {}, ""),
    (
        "same, scored inside the spiral's circular FOV (⌀ 256 mm)",
        "v1.4/spiral.seq",
        {"score": DISC},
        {},
        "corners outside the disc: ring aliases of the far edge",
    ),
    ("same, T2 = ∞ (no decay during the 39 ms readout)", "v1.4/spiral.seq", {"phantom": NO_T2}, {}, ""),
    (
        "same, T2 = ∞, circular FOV",
        "v1.4/spiral.seq",
        {"phantom": NO_T2, "score": DISC},
        {},
        "gridding (Pipe–Menon weights) vs ideal: +0.018",
    ),
    ("spiral 96², CG least squares (`sense`, 30 it.)", "v1.4/spiral.seq", {}, CG30, ""),
    ("spiral, 48² phantom grid", "v1.4/spiral.seq", {"matrix": (48, 48)}, {}, "reference: the 48² phantom"),
    (
        "spiral 64², 4 slices of one spiral each (no SLC label), slice 1",
        "v1.5/spiral.seq",
        {},
        {},
        "slices from the RF offsets; trajectory: exact moment (pypulseq's was off-centre for slices 2–4)",
    ),
    ("same, circular FOV", "v1.5/spiral.seq", {"score": DISC}, {}, ""),
    (
        "EPI 64², 3 slices (no FOV definition: 220 mm = 1/Δk)",
        "v1.4/epi.seq",
        {"fov_mm": 220.0},
        {},
        "slices from the RF offsets (no SLC label); slice 1; ghost estimate φ0 = {phi0:+.4f} rad",
    ),
    ("same, Pulseq 1.5 file", "v1.5/epi.seq", {"fov_mm": 220.0}, {}, "φ0 = {phi0:+.4f} rad"),
    ("same, without ghost correction", "v1.4/epi.seq", {"fov_mm": 220.0}, {"epi_correction": "none"}, ""),
    (
        "EPI at 256 mm (the FOV assumed before)",
        "v1.4/epi.seq",
        {"fov_mm": 256.0},
        {"epi_correction": "none"},
        "phantom larger than the sequence's 220 mm FOV: it wraps",
    ),
]


def _score(img: np.ndarray, ref: np.ndarray, inside: np.ndarray | None = None) -> tuple[float, float]:
    """NRMSE of the least-squares scaled magnitude and correlation, over ``inside`` (default all)."""
    sel = np.ones(ref.shape, bool) if inside is None else inside
    a, b = img[sel], ref[sel]
    scale = float((a * b).sum() / (a * a).sum())
    nrmse = float(np.linalg.norm(scale * a - b) / np.linalg.norm(b))
    return nrmse, float(np.corrcoef(a, b)[0, 1])


def _sampled_trajectory(ks: mr.KSpace, shape: tuple[int, int]) -> np.ndarray:
    """``(n, 3)`` sampled k-space of the first volume in cycles per FOV (Cartesian: the recon grid)."""
    if ks.trajectory is None:
        ky, kx = np.meshgrid(np.arange(shape[0]) - shape[0] // 2, np.arange(shape[1]) - shape[1] // 2)
        return np.stack([np.zeros(ky.size), ky.ravel(), kx.ravel()], axis=1)
    traj = ks.trajectory.numpy()
    traj = traj.reshape(-1, *traj.shape[-4:])[0]  # (k2, k1, k0, 3)
    mask = ks.sampling_mask.numpy()
    mask = mask.reshape(-1, *mask.shape[-2:])[0]
    return traj[mask].reshape(-1, 3)


def measure() -> list[str]:
    """Simulate and reconstruct every case; one markdown row each."""
    rows = [
        "| file | case | recon | NRMSE | correlation | floor | simulation | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, name, sim_options, rec, note in CASES:
        sim = dict(sim_options)
        phantom = sim.pop("phantom", "shepp-logan")
        where = sim.pop("score", None)
        seq = read_seq(DATA / name)
        t0 = time.perf_counter()
        ks = simulate_seq(seq, phantom, coils=1, isochromats=1, spoiling="ideal", device="cpu", **sim)
        seconds = time.perf_counter() - t0
        image = mr.reconstruct(ks, device="cpu", **rec)
        img = np.abs(image.data.numpy())
        img = img.reshape(-1, *img.shape[-2:])[0]  # first volume (slice 1: where the phantom lies)
        pd = load_maps(phantom, tuple(cast(dict[str, Any], ks.meta["simulation"])["matrix"]))["pd"]
        ideal, ref, _ = sampled_kspace_reference(pd, _sampled_trajectory(ks, img.shape), img.shape)
        inside = None
        if where == DISC:
            ny, nx = img.shape
            y, x = np.meshgrid(np.arange(ny) - ny // 2 + 0.5, np.arange(nx) - nx // 2 + 0.5, indexing="ij")
            inside = np.hypot(y / ny, x / nx) <= 0.5
        nrmse, corr = _score(img, ref, inside)
        floor, _ = _score(ideal, ref, inside)
        how = str(image.meta.get("transform", "")).upper()
        if rec.get("method") == "sense":
            how += f", CG {rec['iterations']} it."
        phi0 = float("nan")
        if has_reversed_readouts(ks):
            how += f", EPI correction {image.meta.get('epi_correction')}"
            phi0 = float(np.ravel(estimate_epi_phase(ks, method="image").constant_rad)[0])
        text = note.format(phi0=phi0) if note else ""
        rows.append(
            f"| `{name}` | {label} | {how} | {nrmse:.3f} | {corr:.3f} | {floor:.3f} | {seconds:.1f} s "
            f"({img.shape[0]}² recon) | {text} |"
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--no-docs", action="store_true", help="print the table, do not write docs/simulation.md")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    rows = measure()
    if a.no_docs:
        return
    write_block(DOC, BEGIN, END, "\n".join([BEGIN, *rows, END]), append=False)


if __name__ == "__main__":
    main()

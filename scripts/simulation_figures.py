"""KomaMRI's .seq files simulated on the Shepp–Logan phantom and reconstructed: the docs table.

For each sequence of ``../shared/data/koma_pulseq_read_comparison`` that images (GRE, spiral,
EPI): :func:`recon_engine.simulate.simulate_seq` (Shepp–Logan PD, 1 coil, 1 isochromat per
voxel, ideal spoiling, CPU), then the ``direct`` reconstruction as ``mrrecon recon`` runs it
(EPI: the automatic N/2-ghost correction included), and the NRMSE (least-squares scaled
magnitude) and correlation against the phantom on the reconstruction grid. Writes the table
between the markers in docs/simulation.md (``--no-docs``: print only).

    .venv/bin/python scripts/simulation_figures.py [--no-docs] [--threads 1]
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import recon_engine as mr
from recon_engine.calibration.epi import estimate_epi_phase
from recon_engine.io.pulseq import read_seq
from recon_engine.reconstructions.auto import has_reversed_readouts
from recon_engine.simulate import shepp_logan, simulate_seq

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "simulation.md"
DATA = ROOT.parent / "shared" / "data" / "koma_pulseq_read_comparison"
BEGIN, END = "<!-- koma-simulation-table:begin -->", "<!-- koma-simulation-table:end -->"

#: (label, file, simulation options, reconstruction options, note)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], str]] = [
    ("GRE 256² Cartesian", "v1.3/gre.seq", {}, {}, ""),
    ("spiral (one 28 000-sample interleaf), 96² grid", "v1.4/spiral.seq", {}, {}, ""),
    ("spiral, 48² phantom grid", "v1.4/spiral.seq", {"matrix": (48, 48)}, {}, ""),
    (
        "EPI 64², 3 slices (no FOV definition: 220 mm = 1/Δk)",
        "v1.4/epi.seq",
        {"fov_mm": 220.0},
        {},
        "image-based ghost estimate φ0 = {phi0:+.4f} rad",
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


def _score(img: np.ndarray) -> tuple[float, float]:
    ref = shepp_logan(img.shape[-1])
    scale = float((img * ref).sum() / (img * img).sum())
    nrmse = float(np.linalg.norm(scale * img - ref) / np.linalg.norm(ref))
    return nrmse, float(np.corrcoef(img.ravel(), ref.ravel())[0, 1])


def measure() -> list[str]:
    """Simulate and reconstruct every case; one markdown row each."""
    rows = [
        "| file | case | recon | NRMSE | correlation | simulation | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, name, sim, rec, note in CASES:
        seq = read_seq(DATA / name)
        t0 = time.perf_counter()
        ks = simulate_seq(seq, "shepp-logan", coils=1, isochromats=1, spoiling="ideal", device="cpu", **sim)
        seconds = time.perf_counter() - t0
        image = mr.reconstruct(ks, device="cpu", **rec)
        img = np.abs(image.data.numpy())
        img = img.reshape(-1, *img.shape[-2:])[0]  # first volume (slice 1: where the phantom lies)
        nrmse, corr = _score(img)
        how = str(image.meta.get("transform", "")).upper()
        phi0 = float("nan")
        if has_reversed_readouts(ks):
            how += f", EPI correction {image.meta.get('epi_correction')}"
            phi0 = float(np.ravel(estimate_epi_phase(ks, method="image").constant_rad)[0])
        text = note.format(phi0=phi0) if note else ""
        rows.append(
            f"| `{name}` | {label} | {how} | {nrmse:.3f} | {corr:.3f} | {seconds:.1f} s "
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
    text = DOC.read_text(encoding="utf-8")
    block = "\n".join([BEGIN, *rows, END])
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{DOC}: markers {BEGIN} … {END} not found")
    DOC.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()

"""pnp and modl against zero-filling, CG-SENSE, TV and wavelet on real data: the table of docs/learned.md.

Usage::

    OMP_NUM_THREADS=1 python scripts/learned_figures.py [--no-write] [--simulated]

``--simulated``: the same comparison on simulated validation data instead (the block
``simulated`` of docs/learned.md): 3 images of the training distribution at 128² drawn with a
seed the training never used (:class:`~recon_engine.learned.data.ImagePool`, textured phantoms
and scikit-image crops), 16 ring coils (true maps), noise std 0.01, R = 4 and 6 with 24
calibration lines; reference the true magnitude. This is where the defaults of ``pnp`` and the
start of MoDL were chosen (never on the real data).

Data (skipped when absent under ``../shared/data``), none of it seen in training:

- ``bart_pics_brain``: 8-coil brain, its own 12.7 % variable-density (k2, k1) sampling;
  reference: BART's PICS image of the full data (RSS of two map sets).
- ``pulseq_mr_physics_course`` Cima.X 16-coil FLASH 128², phantom and in vivo, fully sampled,
  retrospectively undersampled at R = 4 and 6 (every R-th line through the centre + 24 central
  lines); reference: CG-SENSE (10 iterations) of the full data with the same ESPIRiT maps.

Every method uses the same ESPIRiT maps. CG-SENSE: best of 5/10/20/40 iterations; TV and
wavelet: best relative λ of 1e-4 … 3e-2 (30 iterations); all three tuned against the reference
per dataset and R (an advantage the learned methods do not get). pnp and modl: their defaults,
the shipped weights, no tuning. NRMSE of the magnitudes after a least-squares intensity fit
(``‖a·|x| − |x_ref|‖ / ‖x_ref‖``), SSIM of the fitted magnitudes (``recon_engine.metrics``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from _doc_blocks import write_block

import recon_engine as mr
from recon_engine.calibration.coil_maps import estimate_coil_maps
from recon_engine.data.kspace import KSpace
from recon_engine.io.cfl import read_cfl
from recon_engine.metrics import ssim
from recon_engine.progress import run
from recon_engine.reconstructions import modl_steps, pnp_steps, sense_steps, tv_steps, wavelet_steps
from recon_engine.simulate.acquire import simulate_cartesian

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DOC = ROOT / "docs" / "learned.md"
LAMBDAS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
CIMA = {"Cima.X phantom": "2024-02-06-160052.dat", "Cima.X in vivo": "2024-02-06-164128.dat"}


def _magnitude(image: mr.ImageData) -> np.ndarray:
    return np.sqrt((np.abs(image.numpy()) ** 2).sum(axis=-4)).squeeze()


def _figures(x: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    a, b = x.ravel(), ref.ravel()
    a = a * (a @ b) / max(float(a @ a), 1e-30)
    e = float(np.linalg.norm(a - b) / np.linalg.norm(b))
    return e, ssim(a.reshape(ref.shape), ref)


def _undersample(ks: KSpace, r: int, cal: int = 24) -> KSpace:
    n = ks.shape[-2]
    k = np.arange(n)
    keep = ((k - n // 2) % r == 0) | (np.abs(k - n // 2 + 0.5) < cal / 2)
    mask = torch.from_numpy(np.broadcast_to(keep, (ks.shape[-3], n)).copy())
    return replace(ks, data=ks.data * mask[:, :, None], sampling_mask=mask)


def _bart() -> tuple[KSpace, np.ndarray] | None:
    folder = DATA / "bart_pics_brain"
    if not (folder / "ksp.cfl").exists():
        return None
    ksp = read_cfl(folder / "ksp")[0]
    img = read_cfl(folder / "img")[0, :, :, 0, :]
    ref = np.sqrt((np.abs(img) ** 2).sum(-1)).T
    data = np.ascontiguousarray(ksp.transpose(2, 1, 0)[..., None])
    c, nz, ny, nx = data.shape
    template = simulate_cartesian(
        np.zeros((nz, ny, nx), np.float32),
        np.ones((c, nz, ny, nx), np.complex64),
        readout_oversampling=1,
        noise_std=0.0,
        n_noise_samples=0,
    )
    mask = torch.from_numpy(np.abs(data).sum(axis=(0, 3)) > 0)
    return replace(template, data=torch.from_numpy(data), sampling_mask=mask), ref


Row = tuple[str, str, dict[str, tuple[float, float, str]]]


def _evaluate(name: str, setting: str, ks: KSpace, maps: np.ndarray, ref: np.ndarray) -> Row:
    res: dict[str, tuple[float, float, str]] = {}

    def best(label: str, make: Callable[[object], object], grid: tuple[object, ...], fmt: str) -> None:
        scores: list[tuple[float, float, str, float]] = []
        for g in grid:
            t0 = time.perf_counter()
            img: mr.ImageData = run(make(g))  # type: ignore[arg-type]
            dt = time.perf_counter() - t0
            scores.append((*_figures(_magnitude(img), ref), fmt.format(g), dt))  # type: ignore[arg-type]
        e, s, note, dt = min(scores)
        res[label] = (e, s, f"{note}, {dt:.2f} s")

    best("zero-filled", lambda g: sense_steps(ks, maps=maps, iterations=1, device="cpu"), (1,), "AᴴA-scaled")
    best(
        "CG-SENSE",
        lambda g: sense_steps(ks, maps=maps, iterations=g, device="cpu"),  # type: ignore[arg-type]
        (5, 10, 20, 40),
        "{} it.",
    )
    best(
        "TV",
        lambda g: tv_steps(ks, maps=maps, iterations=30, regularization_weight=g, device="cpu"),  # type: ignore[arg-type]
        LAMBDAS,
        "λ {:g}",
    )
    best(
        "wavelet",
        lambda g: wavelet_steps(ks, maps=maps, iterations=30, regularization_weight=g, device="cpu"),  # type: ignore[arg-type]
        LAMBDAS,
        "λ {:g}",
    )
    best("pnp", lambda g: pnp_steps(ks, maps=maps, device="cpu"), (0,), "defaults")
    best("modl", lambda g: modl_steps(ks, maps=maps, device="cpu"), (0,), "defaults")
    line = ", ".join(f"{k} {v[0]:.4f}/{v[1]:.3f}" for k, v in res.items())
    print(f"{name} {setting}: {line}", flush=True)
    return name, setting, res


def measure() -> list[Row]:
    """All rows of the table."""
    torch.set_num_threads(1)
    rows: list[Row] = []
    bart = _bart()
    if bart is not None:
        ks, ref = bart
        maps = np.asarray(run(sense_steps(ks, iterations=1, device="cpu")).meta["coil_maps"])
        rows.append(_evaluate("BART brain", "own VD mask (12.7 %)", ks, maps, ref))
    for name, file in CIMA.items():
        path = DATA / "pulseq_mr_physics_course" / "04_hardware_and_imprefections" / "data" / file
        if not path.exists():
            continue
        full = mr.read(path)
        maps = estimate_coil_maps(full, device="cpu").numpy()
        ref = _magnitude(run(sense_steps(full, maps=maps, iterations=10, device="cpu")))
        for r in (4, 6):
            rows.append(_evaluate(name, f"R = {r} + 24 lines", _undersample(full, r), maps, ref))
    return rows


def simulated() -> list[Row]:
    """Rows of the simulated validation set (see the module docstring)."""
    from recon_engine.learned.data import ImagePool, _coils

    torch.set_num_threads(1)
    rng = np.random.default_rng([777, 5])
    pool = ImagePool.default(128)
    rows: list[Row] = []
    for i in range(3):
        img = pool.draw(rng)
        maps = _coils(rng, 128, 16)
        for r in (4, 6):
            ks = simulate_cartesian(
                img,
                maps,
                acceleration=r,
                calibration_lines=24,
                readout_oversampling=1,
                noise_std=0.01,
                n_noise_samples=0,
                seed=int(rng.integers(2**31)),
            )
            rows.append(
                _evaluate(f"simulated {i + 1}", f"R = {r} + 24 lines", ks, maps[None, :, None], np.abs(img))
            )
    return rows


def table(rows: list[Row]) -> str:
    """Markdown table: NRMSE / SSIM per method, the learned methods' gain over the best classical."""
    methods = ["zero-filled", "CG-SENSE", "TV", "wavelet", "pnp", "modl"]
    head = (
        "| data | sampling | " + " | ".join(methods) + " | pnp vs best classical | modl vs best classical |"
    )
    lines = [head, "|" + " --- |" * (len(methods) + 4)]
    for name, setting, res in rows:
        classical = min(res[m][0] for m in ("CG-SENSE", "TV", "wavelet"))
        cells = [f"{res[m][0]:.4f} / {res[m][1]:.3f}" for m in methods]
        gains = [f"{100 * (1 - res[m][0] / classical):+.0f} %" for m in ("pnp", "modl")]
        lines.append(f"| {name} | {setting} | " + " | ".join(cells) + " | " + " | ".join(gains) + " |")
    notes = ["", "Chosen settings and run times (one thread):", ""]
    for name, setting, res in rows:
        notes.append(f"- {name}, {setting}: " + "; ".join(f"{m} ({res[m][2]})" for m in methods))
    return "\n".join(lines + notes)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--no-write", action="store_true", help="print the table only")
    p.add_argument("--simulated", action="store_true", help="simulated validation data instead")
    args = p.parse_args(argv)
    rows = simulated() if args.simulated else measure()
    text = table(rows)
    print(text)
    block = "simulated" if args.simulated else "figures"
    if not args.no_write and DOC.exists():
        begin, end = f"<!-- {block}:begin -->", f"<!-- {block}:end -->"
        write_block(DOC, begin, end, f"{begin}\n{text}\n{end}", append=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

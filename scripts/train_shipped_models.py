"""Train the built-in weights of ``"pnp"`` (denoiser) and ``"modl"`` with a fixed seed.

Usage::

    OMP_NUM_THREADS=1 python scripts/train_shipped_models.py [--only denoiser|modl] [--quick]

Writes ``src/recon_engine/learned/weights/denoiser.pt`` and ``modl.pt`` (without optimiser
state) and prints one line per epoch (loss, validation NRMSE/SSIM, samples/s). Training
data: textured phantoms made by :mod:`recon_engine.learned.data` and the images that ship in
the scikit-image wheel; nothing is downloaded.

1. The denoiser of ``pnp`` (DnCNN 10 × 48, noise channel): 10 epochs on patches of 64², σ in
   [0.002, 0.2].
2. MoDL: the same denoiser trained 16 epochs (``"modl-start"``; a temporary file) is frozen
   at σ = :data:`MODL_SIGMA` (its noise channel folded into the first bias,
   :meth:`~recon_engine.learned.modl_net.MoDLNet.from_denoiser`, λ = 0.1: five iterations of
   plug-and-play HQS) and fine-tuned end to end on simulated acquisitions with mostly regular
   1D masks, R = 4–6, 16–24 calibration lines per 128. (The 16-epoch denoiser was better on
   the simulated validation for ``pnp`` as well, but worse on the real-data table of
   docs/learned.md overall, so ``pnp`` ships the 10-epoch one.)

One torch thread (deterministic for the seed on one thread); 5–25 minutes in all on this
project's shared 2-core CPU, depending on its load.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from recon_engine.learned import WEIGHTS_DIR, train_denoiser_steps, train_modl_steps
from recon_engine.learned.modl_net import MoDLNet
from recon_engine.learned.networks import DnCNN
from recon_engine.learned.weights import load_model, read_weights, save_model

SEED = 20261207
#: Noise level at which MoDL's regulariser starts from the denoiser (chosen on simulated data).
MODL_SIGMA = 0.03
#: Training options of each model (keyword arguments of its trainer); --quick: 2 epochs of a few steps.
PLAN: dict[str, dict[str, Any]] = {
    "denoiser": {"epochs": 10, "steps_per_epoch": 80, "features": 48, "depth": 10},
    "modl-start": {"epochs": 16, "steps_per_epoch": 80, "features": 48, "depth": 10},
    "modl": {
        "epochs": 8,
        "steps_per_epoch": 25,
        "batch_size": 2,
        "features": 48,
        "depth": 10,
        "accelerations": (4.0, 5.0, 6.0),
        "mask_patterns": ("regular", "regular", "regular", "random", "variable_density"),
        "calibration_lines": (16, 24),
        "initial_lambda": 0.1,
        "learning_rate": 2e-4,
    },
}


def _run(kind: str, quick: bool, out: Path, **extra: Any) -> None:
    options = {**PLAN[kind], **extra}
    if quick:
        options.update(epochs=2, steps_per_epoch=max(1, options["steps_per_epoch"] // 20))
    ckpt = out.with_suffix(".ckpt.pt")
    trainer = train_modl_steps if kind == "modl" else train_denoiser_steps
    gen = trainer(**options, seed=SEED, output=ckpt, device="cpu")
    t0 = time.perf_counter()
    while True:
        try:
            ev = next(gen)
        except StopIteration as stop:
            result = stop.value
            break
        if ev.stage.startswith("validation"):
            m = {k: round(v, 5) for k, v in ev.metrics.items()}
            print(f"[{time.perf_counter() - t0:7.1f} s] {kind} {json.dumps(m)}", flush=True)
    wall = time.perf_counter() - t0
    blob = read_weights(ckpt)
    meta = {k: v for k, v in blob["meta"].items() if k != "optimizer"}
    meta.update(training_wall_s=wall, torch_threads=torch.get_num_threads(), torch=str(torch.__version__))
    if kind == "modl":
        meta["init"] = f"modl-start denoiser frozen at sigma {MODL_SIGMA} (MoDLNet.from_denoiser), lambda 0.1"
    save_model(out, result.model, meta)
    ckpt.unlink()
    print(f"{kind}: wrote {out} ({out.stat().st_size / 1e3:.0f} kB) in {wall:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["denoiser", "modl"])
    p.add_argument("--quick", action="store_true", help="a few steps (smoke test)")
    p.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    for kind in [args.only] if args.only else ["denoiser", "modl"]:
        if kind == "denoiser":
            _run(kind, args.quick, args.out_dir / "denoiser.pt")
            continue
        start_file = args.out_dir / "modl_start_denoiser.pt"
        _run("modl-start", args.quick, start_file)
        denoiser, _ = load_model(start_file, "dncnn")
        start_file.unlink()
        assert isinstance(denoiser, DnCNN)
        start = MoDLNet.from_denoiser(denoiser, MODL_SIGMA, initial_lambda=PLAN["modl"]["initial_lambda"])
        _run(kind, args.quick, args.out_dir / "modl.pt", init_denoiser=start.denoiser)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train the built-in weights of ``"pnp"`` (denoiser) and ``"modl"`` with a fixed seed.

Usage::

    OMP_NUM_THREADS=1 python scripts/train_shipped_models.py [--only denoiser|modl] [--quick]

Writes ``src/recon_engine/learned/weights/denoiser.pt`` and ``modl.pt`` (without optimiser
state) and prints one line per epoch (loss, validation NRMSE/SSIM, samples/s). Training
data: textured phantoms made by :mod:`recon_engine.learned.data` and the images that ship in
the scikit-image wheel; nothing is downloaded. One torch thread: on this project's 2-core
CPU the whole run takes about 15 minutes (deterministic for the seed on one thread).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from recon_engine.learned import WEIGHTS_DIR, train_denoiser_steps, train_modl_steps
from recon_engine.learned.weights import read_weights, save_model

SEED = 20261207
#: (epochs, steps per epoch) of each model; --quick divides the steps by 20.
PLAN = {"denoiser": (10, 100), "modl": (10, 50)}


def _run(kind: str, quick: bool, out: Path) -> None:
    epochs, steps = PLAN[kind]
    if quick:
        epochs, steps = 2, max(1, steps // 20)
    ckpt = out.with_suffix(".ckpt.pt")
    gen = (
        train_denoiser_steps(epochs=epochs, steps_per_epoch=steps, seed=SEED, output=ckpt, device="cpu")
        if kind == "denoiser"
        else train_modl_steps(epochs=epochs, steps_per_epoch=steps, seed=SEED, output=ckpt, device="cpu")
    )
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
    save_model(out, result.model, meta)
    ckpt.unlink()
    print(f"{kind}: wrote {out} ({out.stat().st_size / 1e3:.0f} kB) in {wall:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=sorted(PLAN))
    p.add_argument("--quick", action="store_true", help="a few steps (smoke test)")
    p.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    for kind in [args.only] if args.only else list(PLAN):
        _run(kind, args.quick, args.out_dir / ("denoiser.pt" if kind == "denoiser" else "modl.pt"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train the shipped weights of the relaxometry-guided unrolled qMRI network (``relax.pt``).

Usage::

    OMP_NUM_THREADS=1 python scripts/train_relax_net.py [--quick] [--out PATH]

Trains :class:`recon_engine.learned.relax_net.RelaxNet` on simulated inversion-recovery raw data
of random tissue-phantom variants (:func:`recon_engine.learned.relax_train.train_relax_steps`,
fixed seed, one torch thread) and writes ``src/recon_engine/learned/weights/relax.pt``; prints
one line per epoch (loss, validation contrast NRMSE and T1 error of the start and of the
network). Nothing is downloaded. On this project's shared 2-core CPU the run took 276 s
(8 epochs × 40 steps × 4 samples at 40² and 48²).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from recon_engine.learned.relax_net import RELAX_WEIGHTS
from recon_engine.learned.relax_train import train_relax_steps
from recon_engine.learned.weights import read_weights, save_model

SEED = 20261207
#: (epochs, steps per epoch) at 40² and 48² (drawn per step); --quick: 1 epoch of 2 steps.
PLAN = (8, 40)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few steps (smoke test)")
    p.add_argument("--out", type=Path, default=RELAX_WEIGHTS)
    p.add_argument("--epochs", type=int, default=PLAN[0])
    p.add_argument("--steps", type=int, default=PLAN[1])
    p.add_argument("--sizes", default="40,48", help="training matrix sizes, comma-separated")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    epochs, steps = (1, 2) if args.quick else (args.epochs, args.steps)
    t0 = time.perf_counter()
    sizes = tuple(int(v) for v in args.sizes.split(","))
    gen = train_relax_steps(epochs=epochs, steps_per_epoch=steps, seed=SEED, output=args.out, size=sizes)
    while True:
        try:
            ev = next(gen)
        except StopIteration as stop:
            result = stop.value
            break
        if ev.stage == "validation":
            m = {k: round(v, 5) for k, v in ev.metrics.items()}
            print(f"[{time.perf_counter() - t0:7.1f} s] {json.dumps(m)}", flush=True)
    wall = time.perf_counter() - t0
    meta = dict(read_weights(args.out)["meta"])
    meta.update(training_wall_s=wall, torch_threads=torch.get_num_threads(), torch=str(torch.__version__))
    save_model(args.out, result.model, meta)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB) in {wall:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

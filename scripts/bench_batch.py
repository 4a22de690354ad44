"""Batch throughput (a benchmark, not a test): files per minute for 1 and 2 Dask workers vs a plain loop.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_batch.py [--copies 50] [--method sense]

Makes N copies of sample_data/phantom_R2.h5, then times (1) a plain loop in this process
calling the same per-file task (recon_engine.batch.reconstruct_file, 1 torch thread),
(2) run_batch on an already running LocalCluster of 1 and of 2 worker processes (the
cluster start is timed apart). Per-file overhead = (cluster time with 1 worker - loop time) / N.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from recon_engine.batch import Job, recipe_hash, reconstruct_file, run_batch
from recon_engine.recipe import Recipe

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--copies", type=int, default=50)
    ap.add_argument("--method", default="sense")
    ap.add_argument("--sample", default=str(ROOT / "sample_data" / "phantom_R2.h5"))
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    torch.set_num_threads(1)
    recipe = Recipe.create(args.sample, method=args.method, device="cpu")
    out: dict[str, float] = {"copies": args.copies}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        inputs = []
        for i in range(args.copies):
            inputs.append(tmp / f"scan{i:03d}.h5")
            shutil.copyfile(args.sample, inputs[-1])
        digest = recipe_hash(recipe, fmt="h5")
        reconstruct_file(Job(0, str(inputs[0]), str(tmp / "warm.h5"), recipe, digest, "cpu"))  # imports
        (tmp / "loop").mkdir()
        t = time.perf_counter()
        for i, p in enumerate(inputs):
            r = reconstruct_file(Job(i, str(p), str(tmp / "loop" / f"{p.stem}.h5"), recipe, digest, "cpu"))
            assert r["status"] == "ok", r
        out["loop_s"] = time.perf_counter() - t
        for n in (1, 2):
            t = time.perf_counter()
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": ":0"},
                env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
            )
            client = Client(cluster)
            out[f"cluster_start_{n}_s"] = time.perf_counter() - t
            run_batch(recipe, inputs[:2], tmp / f"warm{n}", scheduler=client)  # imports in the workers
            t = time.perf_counter()
            report = run_batch(recipe, inputs, tmp / f"batch{n}", scheduler=client)
            out[f"batch_{n}_s"] = time.perf_counter() - t
            assert report.count("ok") == args.copies, report.table()
            client.close()
            cluster.close()
    n = args.copies
    out["loop_files_per_min"] = 60 * n / out["loop_s"]
    for w in (1, 2):
        out[f"batch_{w}_files_per_min"] = 60 * n / out[f"batch_{w}_s"]
    out["overhead_per_file_s"] = (out["batch_1_s"] - out["loop_s"]) / n
    print(json.dumps({k: round(v, 3) for k, v in out.items()}, indent=2))


if __name__ == "__main__":
    main()

"""``mrrecon batch RECIPE INPUT... -o OUTDIR``: one recipe over many raw files on Dask.

RECIPE is a reconstruction recipe (raw files in, images out) or a fit recipe
(``mrrecon_fit_recipe``: image series in, qMRI maps out; see :mod:`recon_engine.batch.fit`).

Exit status: 0 when every file was reconstructed (or skipped by ``--resume``), 1 when
some failed (each with its one-line reason in the summary and ``batch_report.json``),
2 for bad usage (unreadable recipe, no inputs, unknown format, unreachable scheduler).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

__all__ = ["add_parser", "format_progress"]


def _clock(seconds: float) -> str:
    if seconds < 0:
        return "--:--"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def format_progress(event: Any, width: int = 30) -> str:
    """One progress-bar line: ``[####....] 12/50  ok 11  failed 1  running 2  ETA 01:23``."""
    m = event.metrics
    done = int(width * event.fraction)
    return (
        f"[{'#' * done}{'.' * (width - done)}] {event.iteration}/{event.total}"
        f"  ok {int(m.get('done', 0))}  failed {int(m.get('failed', 0))}"
        f"  skipped {int(m.get('skipped', 0))}  running {int(m.get('running', 0))}"
        f"  ETA {_clock(float(m.get('eta_s', -1)))}"
    )


def _cmd_batch(args: argparse.Namespace) -> int:
    from recon_engine.batch import run_batch

    tty = sys.stderr.isatty() and not args.quiet
    last = [0.0]

    def show(event: Any) -> None:
        if args.quiet:
            return
        r = getattr(event, "result", None)
        if r is not None and r.status == "failed" and not tty:
            print(f"failed: {r.input}: {r.error}", file=sys.stderr)
        now = time.monotonic()
        if tty and (r is not None or now - last[0] > 0.5):
            last[0] = now
            sys.stderr.write("\r" + format_progress(event) + "\x1b[K")
            sys.stderr.flush()

    report = run_batch(
        args.recipe,
        args.inputs,
        args.output,
        scheduler=args.scheduler,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        device=args.device,
        resume=args.resume,
        progress=show,
        seq=args.seq,
        output_format=args.format,
    )
    if tty:
        sys.stderr.write("\n")
    if not args.quiet:
        print(report.table())
        print(f"report: {report.output_dir}/batch_report.json")
    return 0 if report.ok else 1


def add_parser(sub: Any) -> None:
    """Register ``mrrecon batch``."""
    from recon_engine.batch import FIT_OUTPUT_FORMATS, OUTPUT_FORMATS

    p = sub.add_parser(
        "batch",
        help="run a recipe over many raw files on a Dask cluster (local by default)",
        description="Reconstruct every INPUT with the recipe; one Dask task per file. Exit status 0: all "
        "files done; 1: some failed (see the summary and batch_report.json); 2: bad usage.",
    )
    p.add_argument("recipe", help="recipe YAML (mrrecon recon --save-recipe, the GUI) or a fit recipe")
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="raw data files, directories or glob patterns (image series for a fit recipe)",
    )
    p.add_argument("-o", "--output", required=True, help="output directory (created if needed)")
    formats = tuple(dict.fromkeys((*OUTPUT_FORMATS, *FIT_OUTPUT_FORMATS)))
    p.add_argument(
        "--format", choices=formats, help="output format (default h5; fit recipes: npz, or nii.gz maps)"
    )
    p.add_argument("--seq", help="Pulseq .seq applied to every input (twix without labels)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    p.add_argument("--workers", type=int, help="local cluster: number of worker processes (default: cores)")
    p.add_argument(
        "--threads-per-worker", type=int, default=1, metavar="T", help="torch/OMP threads in each worker"
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override the recipe's device")
    p.add_argument("--resume", action="store_true", help="skip inputs whose output is up to date")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_batch)

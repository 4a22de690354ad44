"""``mrrecon bench``: time the fixed problem set against the installed peers.

``mrrecon bench [--suite core|learned|qmri-raw|simulation|all ...] [--quick] [--json]
[--markdown] [--device auto|cpu|cuda] [--only NAME...] [--repeats N] [--matrix N] [--no-peers]
[--no-gui]``. The default run is the ``core`` suite; ``learned`` adds ``pnp``/``modl`` on P1
and the training throughput, ``qmri-raw`` the maps from raw IR k-space (P5), ``simulation``
the Pulseq simulator (P6); ``--only`` picks problems of any suite. The table goes to stdout
(progress to stderr); with ``--json`` stdout is the list of records ``{"problem", "tool",
"median_s", "min_s", "quality_name", "quality"}`` (plus ``"note"``, ``"extra"``). The GUI
probe (longest main-thread stall, Run → first preview; suite ``core``) runs the plugin's probe
module (:data:`recon_engine.cli._plugin.GUI_PROBE_MODULE`, ``--json``) in a subprocess when a
display is available (the engine never imports napari).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

from recon_engine.cli._plugin import GUI_PROBE_MODULE

__all__ = ["add_parser", "gui_records"]

_GUI_PROBLEMS = ("gui_stall", "gui_first_preview")


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in (
        "darwin",
        "win32",
    )


def gui_records(quick: bool, device: str, notes: list[str]) -> list[Any]:
    """Run the GUI probe in a subprocess; its records, or none (with a note) without a display."""
    from recon_engine.cli.bench.records import Record

    if not _has_display():
        notes.append(
            "GUI probe skipped: no display (run under xvfb-run -a for the stall/first-preview figures)"
        )
        return []
    cmd = [sys.executable, "-m", GUI_PROBE_MODULE, "--json", "--device", device]
    if quick:
        cmd.append("--quick")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        notes.append(f"GUI probe failed to start: {exc}")
        return []
    if out.returncode != 0:
        tail = " ".join((out.stderr or out.stdout).strip().splitlines()[-1:])
        notes.append(f"GUI probe failed (exit {out.returncode}): {tail}")
        return []
    try:
        return [Record.from_json(d) for d in json.loads(out.stdout)]
    except (ValueError, KeyError, TypeError) as exc:
        notes.append(f"GUI probe printed no valid JSON: {exc}")
        return []


def _cmd_bench(args: argparse.Namespace) -> int:
    from recon_engine.cli.bench import format_table, markdown_table, run_benchmarks
    from recon_engine.cli.bench.runner import problems_of
    from recon_engine.device import resolve_device

    resolve_device(args.device)  # ParameterError for cuda without a GPU, before any work
    only = list(args.only or []) or problems_of(args.suite)
    engine_only = [p for p in only if p not in _GUI_PROBLEMS]
    want_gui = not args.no_gui and any(p in _GUI_PROBLEMS for p in only)
    notes: list[str] = []

    def progress(line: str) -> None:
        if not args.quiet:
            sys.stderr.write(f"  {line}\n")
            sys.stderr.flush()

    records = []
    if engine_only:
        records = run_benchmarks(
            quick=args.quick,
            device=args.device,
            only=engine_only,
            repeats=args.repeats,
            peers=not args.no_peers,
            progress=progress,
            notes=notes,
            matrix=args.matrix,
        )
    if want_gui:
        progress("GUI probe (napari, subprocess)")
        records.extend(gui_records(args.quick, args.device, notes))
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=1))
    elif args.markdown:
        print(markdown_table(records))
    else:
        print(format_table(records))
    for line in notes:
        print(f"note: {line}", file=sys.stderr if args.json else sys.stdout)
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``bench`` on the ``mrrecon`` sub-command parser; returns the new parser."""
    from recon_engine.cli.bench import PROBLEMS, SUITES

    pb = subparsers.add_parser(
        "bench", help="time the benchmark problem set against SigPy/BART where installed"
    )
    pb.add_argument(
        "--suite",
        nargs="+",
        default=["core"],
        choices=[*SUITES, "all"],
        metavar="NAME",
        help=f"problem suites to run (default core): {', '.join([*SUITES, 'all'])}",
    )
    pb.add_argument("--quick", action="store_true", help="small sizes, one repeat (CI smoke test)")
    pb.add_argument("--json", action="store_true", help="print the records as JSON")
    pb.add_argument("--markdown", action="store_true", help="print a Markdown table (docs/performance.md)")
    pb.add_argument("--device", default="auto", help="auto, cpu or cuda (this engine; peers run on the CPU)")
    pb.add_argument(
        "--only",
        nargs="+",
        choices=PROBLEMS,
        metavar="NAME",
        help=f"problems to run (any suite; overrides --suite): {', '.join(PROBLEMS)}",
    )
    pb.add_argument(
        "--repeats",
        type=int,
        help="timed calls per tool (default 1 with --quick, else 5; 3 for the long rows of the other suites)",
    )
    pb.add_argument(
        "--matrix",
        type=int,
        help="matrix of the qmri-raw and simulation problems (default 128, 32 with --quick)",
    )
    pb.add_argument("--no-peers", action="store_true", help="time this engine only")
    pb.add_argument("--no-gui", action="store_true", help="skip the napari GUI probe")
    pb.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    pb.set_defaults(func=_cmd_bench)
    return pb

"""Run the benchmark: build the cases, time them interleaved, compute quality, return records.

Interleaving: for every problem, each repeat runs every tool once in turn (ours, then the
peers), so a burst of load from other processes hits all tools of a problem alike; the
median and the minimum over repeats are reported (on a shared machine the minimum is the
more reproducible figure). Quality comes from the last call's result. A case may ask for
fewer calls (:attr:`Case.repeats`, the long cases of the extra suites) when the run does not
set a count.
"""

from __future__ import annotations

import gc
import shutil
import statistics
import time
from collections.abc import Callable, Iterable, Sequence

from recon_engine.cli.bench.ours import has_module, our_cases
from recon_engine.cli.bench.peer_bart import bart_cases
from recon_engine.cli.bench.peer_reference import reference_cases
from recon_engine.cli.bench.peer_sigpy import sigpy_cases
from recon_engine.cli.bench.records import PROBLEM_TITLES, SUITES, Case, Record
from recon_engine.errors import ParameterError

__all__ = ["PROBLEMS", "problems_of", "run_benchmarks", "time_cases"]

#: Problem keys in table order (the GUI ones come from the GUI probe).
PROBLEMS: tuple[str, ...] = tuple(PROBLEM_TITLES)

_CPU_ONLY_PEERS = True  # SigPy/BART/finufft are run on the CPU here (they have their own GPU paths)


def problems_of(suites: Sequence[str]) -> list[str]:
    """Problem keys of ``suites`` (names of :data:`SUITES` or ``"all"``), in table order.

    Raises
    ------
    ParameterError
        An unknown suite name.
    """
    names = list(SUITES) if "all" in suites else list(suites)
    unknown = sorted(set(names) - set(SUITES))
    if unknown:
        raise ParameterError(f"unknown benchmark suite(s) {unknown}; choose from {[*SUITES, 'all']}")
    chosen = {p for name in names for p in SUITES[name]}
    return [p for p in PROBLEMS if p in chosen]


def _selector(only: Sequence[str]) -> Callable[[str], bool]:
    unknown = sorted(set(only) - set(PROBLEMS))
    if unknown:
        raise ParameterError(f"unknown benchmark problem(s) {unknown}; choose from {list(PROBLEMS)}")
    chosen = set(only)
    return lambda name: name in chosen


def time_cases(
    cases: Sequence[Case], repeats: int, progress: Callable[[str], None] | None = None
) -> list[Record]:
    """Time ``cases`` problem by problem, tools interleaved within each repeat.

    Parameters
    ----------
    cases
        The cases (any order; grouped by problem in :data:`PROBLEMS` order).
    repeats
        Timed calls per case (≥ 1), after each case's ``warmup`` calls; a case's own
        :attr:`~recon_engine.cli.bench.records.Case.repeats` takes precedence.
    progress
        Called with a short line before every call.

    Returns
    -------
    list[Record]
        One per case; a case that raised gets NaN times and its error in the note.
    """
    if repeats < 1:
        raise ParameterError(f"repeats must be ≥ 1, got {repeats}")
    order = {name: i for i, name in enumerate(PROBLEMS)}
    groups: dict[str, list[Case]] = {}
    for c in sorted(cases, key=lambda c: order.get(c.problem, len(order))):
        groups.setdefault(c.problem, []).append(c)
    records: list[Record] = []
    failed: dict[int, str] = {}
    for problem, group in groups.items():
        for c in group:
            for _ in range(c.warmup):
                if progress:
                    progress(f"{problem}: {c.tool} (warm-up)")
                try:
                    c.result = c.run()
                except Exception as exc:  # a peer's failure must not stop the benchmark
                    failed[id(c)] = f"failed: {type(exc).__name__}: {exc}"[:200]
        counts = {id(c): c.repeats or repeats for c in group}
        for rep in range(max(counts.values())):
            for c in group:
                if id(c) in failed or rep >= counts[id(c)]:
                    continue
                if progress:
                    progress(f"{problem}: {c.tool} ({rep + 1}/{counts[id(c)]})")
                gc.collect()
                start = time.perf_counter()
                try:
                    c.result = c.run()
                except Exception as exc:
                    failed[id(c)] = f"failed: {type(exc).__name__}: {exc}"[:200]
                    continue
                c.times.append((time.perf_counter() - start) * c.time_scale)
        for c in group:
            records.append(_record(c, failed.get(id(c))))
            c.result = None
    return records


def _record(c: Case, error: str | None) -> Record:
    if error is not None or not c.times:
        return Record(
            c.problem, c.tool, float("nan"), float("nan"), c.quality_name, float("nan"), error or ""
        )
    try:
        q = float(c.quality(c.result))
    except Exception as exc:
        q = float("nan")
        c.note = f"{c.note}; quality failed: {exc}".strip("; ")
    extra: dict[str, float] = {}
    if c.extra is not None:
        try:
            extra = {str(k): float(v) for k, v in c.extra(c.result).items()}
        except Exception as exc:
            c.note = f"{c.note}; extra figures failed: {exc}".strip("; ")
    return Record(
        c.problem, c.tool, statistics.median(c.times), min(c.times), c.quality_name, q, c.note, extra
    )


def run_benchmarks(
    *,
    quick: bool = False,
    device: str = "auto",
    only: Sequence[str] | None = None,
    suites: Sequence[str] = ("core",),
    repeats: int | None = None,
    peers: bool = True,
    progress: Callable[[str], None] | None = None,
    notes: list[str] | None = None,
    matrix: int | None = None,
) -> list[Record]:
    """Run the problem set and return one record per problem and tool.

    Parameters
    ----------
    quick
        Small sizes and one repeat (CI smoke test, well under a minute).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"`` for this engine (peers run on the CPU).
    only
        Problem keys to run (default: those of ``suites``; the GUI ones come from
        ``mrrecon bench``'s subprocess, not from here).
    suites
        Suites of :data:`~recon_engine.cli.bench.records.SUITES` (or ``"all"``) when ``only``
        is not given: ``"core"`` (default), ``"learned"``, ``"qmri-raw"``, ``"simulation"``.
    repeats
        Timed calls per case (default 1 quick, otherwise 5, and 3 for the long cases of the
        extra suites).
    peers
        Also time SigPy, BART and the reference implementations where installed.
    progress
        Called with a short line before each call.
    notes
        Receives lines about skipped problems or tools.
    matrix
        Matrix of P5 (``qmri-raw``) and P6 (``simulation``): default 128, quick 32.

    Returns
    -------
    list[Record]
    """
    if matrix is not None and (int(matrix) != matrix or matrix < 16):
        raise ParameterError(f"matrix must be an integer ≥ 16, got {matrix!r}")
    select = _selector(list(only) if only else problems_of(suites))
    n = repeats if repeats is not None else (1 if quick else 5)
    skipped = notes if notes is not None else []
    cases: list[Case] = our_cases(quick, device, select, skipped, matrix)
    if repeats is not None or quick:
        for c in cases:
            c.repeats = None
    if peers:
        if not has_module("sigpy"):
            skipped.append("SigPy not installed (pip install napari-mrrecon[bench]): no SigPy figures")
        if shutil.which("bart") is None:
            skipped.append("BART not installed (the 'bart' executable): no BART figures")
        cases.extend(sigpy_cases(quick, select))
        cases.extend(bart_cases(quick, select))
        cases.extend(reference_cases(quick, select))
    return time_cases(cases, n, progress)


def problems_in(records: Iterable[Record]) -> list[str]:
    """Problem keys present in ``records``, in table order."""
    present = {r.problem for r in records}
    return [p for p in PROBLEMS if p in present] + sorted(present - set(PROBLEMS))

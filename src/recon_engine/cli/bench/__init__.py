"""Benchmarks: a fixed, seeded problem set timed for this engine and for the tools users know.

``mrrecon bench`` (:mod:`recon_engine.cli.bench.command`) runs :func:`run_benchmarks` and prints a
table (:func:`format_table`) or JSON records; ``--suite`` picks the problem suites
(:data:`SUITES`: ``core`` by default, ``learned``, ``qmri-raw``, ``simulation``). Peers
(SigPy, BART, raw finufft, numpy, scipy) are measured on the same data in the same run when
they are installed; none is required.
See ``docs/performance.md``.
"""

from recon_engine.cli.bench.records import (
    OURS,
    PROBLEM_TITLES,
    SUITES,
    TARGETS,
    Case,
    Record,
    Target,
    evaluate,
)
from recon_engine.cli.bench.runner import PROBLEMS, problems_of, run_benchmarks, time_cases
from recon_engine.cli.bench.table import format_table, markdown_table

__all__ = [
    "OURS",
    "PROBLEMS",
    "PROBLEM_TITLES",
    "SUITES",
    "TARGETS",
    "Case",
    "Record",
    "Target",
    "evaluate",
    "format_table",
    "markdown_table",
    "problems_of",
    "run_benchmarks",
    "time_cases",
]

"""Tables of benchmark records: plain text for the terminal, Markdown for the docs."""

from __future__ import annotations

import math
from collections.abc import Sequence

from recon_engine.cli.bench.records import OURS, PROBLEM_TITLES, TARGETS, Record, evaluate
from recon_engine.cli.bench.runner import problems_in

__all__ = ["format_table", "markdown_table", "rows"]

_HEADER = ("problem", "tool", "median s", "min s", "quality", "ratio", "target", "pass")


def _num(v: float, digits: int = 3) -> str:
    if not math.isfinite(v):
        return "—"
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def rows(records: Sequence[Record]) -> list[tuple[str, ...]]:
    """Table rows: ours first in each problem, then the peers fastest first."""
    out: list[tuple[str, ...]] = []
    for problem in problems_in(records):
        group = [r for r in records if r.problem == problem]
        group.sort(key=lambda r: (r.tool != OURS, r.median_s if math.isfinite(r.median_s) else math.inf))
        ratio, ok = evaluate(list(records), problem)
        target = TARGETS.get(problem)
        for r in group:
            mine = r.tool == OURS
            quality = f"{r.quality_name} {_num(r.quality, 4)}" if r.quality_name else ""
            if r.extra:
                quality += " (" + ", ".join(f"{k} {_num(v, 3)}" for k, v in r.extra.items()) + ")"
            out.append(
                (
                    PROBLEM_TITLES.get(problem, problem),
                    r.tool + (f" ({r.note})" if r.note else ""),
                    _num(r.median_s),
                    _num(r.min_s),
                    quality,
                    (_num(ratio, 2) if ratio is not None else "—") if mine else "",
                    (target.text if target else "—") if mine else "",
                    ("pass" if ok else "FAIL" if ok is not None else "n/a") if mine else "",
                )
            )
    return out


def format_table(records: Sequence[Record]) -> str:
    """Plain-text table with aligned columns."""
    table = [_HEADER, *rows(records)]
    widths = [max(len(row[i]) for row in table) for i in range(len(_HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(records: Sequence[Record]) -> str:
    """GitHub Markdown table (for ``docs/performance.md``)."""
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    for row in rows(records):
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
    return "\n".join(lines)

"""Regenerate the benchmark table of docs/performance.md from ``mrrecon bench --json`` output.

Usage::

    mrrecon bench --json > bench.json            # on a quiet machine
    python scripts/update_performance_docs.py bench.json [--docs docs/performance.md] [--section cpu]

    mrrecon bench --json --device cuda > gpu.json  # on a GPU machine
    python scripts/update_performance_docs.py gpu.json --section gpu

The table (with a line naming the machine, thread count, torch and peer versions) replaces
the text between ``<!-- bench-table:SECTION:start -->`` and ``<!-- bench-table:SECTION:end -->``;
the rest of the file is left as it is. The file is written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import date
from pathlib import Path

import torch
from _doc_blocks import replace_block

from recon_engine.cli.bench import Record, markdown_table


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def render(records: list[Record], section: str) -> str:
    """The Markdown block: provenance line + table."""
    gpu = torch.cuda.get_device_name(0) if section == "gpu" and torch.cuda.is_available() else None
    where = gpu or f"{_cpu_name()}, {os.cpu_count()} logical CPUs, torch {torch.get_num_threads()} threads"
    head = (
        f"Measured {date.today().isoformat()} on {where}; torch {torch.__version__}; "
        "times in seconds (median and min over repeats, tools interleaved); ratio = ours / fastest peer "
        "(or the peer the target names)."
    )
    return head + "\n\n" + markdown_table(records)


def replace_section(text: str, section: str, block: str) -> str:
    """Put ``block`` between the section's markers (appended at the end when they are missing)."""
    start, end = f"<!-- bench-table:{section}:start -->", f"<!-- bench-table:{section}:end -->"
    return replace_block(text, start, end, f"{start}\n{block}\n{end}")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", help="output of mrrecon bench --json ('-' for stdin)")
    p.add_argument("--docs", default=str(Path(__file__).resolve().parents[1] / "docs" / "performance.md"))
    p.add_argument("--section", default="cpu", help="marker name: cpu, gpu, or any other table's name")
    p.add_argument("--title", default="", help="text put before the provenance line")
    args = p.parse_args(argv)
    raw = sys.stdin.read() if args.json == "-" else Path(args.json).read_text(encoding="utf-8")
    records = [Record.from_json(d) for d in json.loads(raw)]
    docs = Path(args.docs)
    text = docs.read_text(encoding="utf-8") if docs.exists() else "# Performance\n"
    block = render(records, args.section)
    out = replace_section(text, args.section, f"{args.title}\n\n{block}" if args.title else block)
    fd, tmp = tempfile.mkstemp(dir=docs.parent, prefix=".performance-", suffix=".md")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(out)
    os.replace(tmp, docs)
    print(f"updated {docs} ({len(records)} records, section {args.section})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

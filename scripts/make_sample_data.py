"""Regenerate ``sample_data/`` (deterministic: the same bytes on every run).

Usage::

    python scripts/make_sample_data.py [--out sample_data]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from recon_engine.simulate.sample_data import SAMPLES, make_sample_data, repo_sample_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=repo_sample_dir(), help="output folder")
    args = parser.parse_args(argv)
    for path in make_sample_data(args.out):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB  sha256 {digest}…  {SAMPLES[path.name]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

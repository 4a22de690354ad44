"""The ``mrrecon`` command: one module per sub-command, registered in :data:`COMMANDS`.

``mrrecon info``, ``recon``, ``run``, ``convert``, ``gui``, ``bench``, ``fit``, ``batch``,
``serve`` and ``stream``; run ``mrrecon --help`` for the list and ``mrrecon COMMAND --help``
for each. A sub-command module has ``add_parser(subparsers)``, which adds its parser(s) with
``set_defaults(func=...)``;
``func(args) -> int`` is the exit status. Bad input (:class:`~recon_engine.errors.ReconError`,
``OSError``) prints one line on stderr and exits with status 2.

This package is the engine's application layer: the only place that names the napari plugin
(by module name, :mod:`recon_engine.cli._plugin`) and the home of the benchmarks
(:mod:`recon_engine.cli.bench`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from recon_engine.errors import ReconError

__all__ = ["COMMANDS", "main"]

#: Sub-command modules of this package, in ``--help`` order (each has ``add_parser(sub)``).
COMMANDS: tuple[str, ...] = (
    "info",
    "recon",
    "convert",
    "gui",
    "bench.command",
    "fit",
    "train",
    "batch",
    "serve",
    "stream",
    "simulate",
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mrrecon", description="MR image reconstruction (napari-mrrecon engine)")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return p


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mrrecon``; returns the exit status (2 for bad input)."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ReconError, OSError) as exc:
        print(f"mrrecon: error: {_one_line(exc)}", file=sys.stderr)
        return 2

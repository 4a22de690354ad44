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
import warnings
from collections.abc import Sequence
from typing import TextIO

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


def _warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` for users: ``mrrecon: warning: <message>``, no source line."""
    print(
        f"mrrecon: warning: {_one_line(Exception(str(message)))}", file=sys.stderr if file is None else file
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mrrecon``; returns the exit status (2 for bad input).

    Every Python warning raised while a command runs (the engine's own, NumPy's, nibabel's, ...)
    is printed once as one line ``mrrecon: warning: ...``; bad input (``ReconError``, ``OSError``)
    as one line ``mrrecon: error: ...`` with exit status 2. No traceback reaches the user for
    either.
    """
    args = _parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # each distinct warning once, whatever the caller's filters
        warnings.showwarning = _warning_line
        try:
            return int(args.func(args))
        except (ReconError, OSError) as exc:
            print(f"mrrecon: error: {_one_line(exc)}", file=sys.stderr)
            return 2

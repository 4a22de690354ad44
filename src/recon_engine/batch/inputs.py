"""Batch inputs: expand files, directories and glob patterns; name the outputs after the inputs."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from recon_engine.errors import ParameterError

__all__ = ["OUTPUT_FORMATS", "RAW_SUFFIXES", "InputEntry", "expand_inputs", "output_names"]

#: Raw data suffixes a directory input is searched for (ISMRMRD and Siemens twix).
RAW_SUFFIXES: tuple[str, ...] = (".h5", ".mrd", ".hdf5", ".dat")

#: Output formats of a batch (the extension every output gets).
OUTPUT_FORMATS: tuple[str, ...] = ("h5", "npy", "nii", "nii.gz")

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class InputEntry:
    """One batch input after expansion.

    Attributes
    ----------
    given
        What the user wrote (a file, a directory, or the pattern that produced it).
    path
        Absolute path of the file, or None when nothing usable was found.
    error
        Why there is no file (missing file, pattern without match, empty directory).
    """

    given: str
    path: Path | None
    error: str | None = None


def _directory_files(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in RAW_SUFFIXES)


def expand_inputs(inputs: Iterable[str | os.PathLike[str]]) -> list[InputEntry]:
    """Expand batch inputs into one entry per file, in the order given.

    A directory contributes its raw data files (``.h5``, ``.mrd``, ``.hdf5``, ``.dat``;
    not recursive, sorted by name); a pattern with ``*``, ``?`` or ``[`` is expanded with
    :func:`glob.glob` (``**`` recursive). A file given twice is kept once. Inputs that
    give no file become entries with an ``error`` (they are reported as failed, not fatal).

    Parameters
    ----------
    inputs
        File paths, directories and glob patterns.

    Returns
    -------
    list of InputEntry
    """
    out: list[InputEntry] = []
    seen: set[Path] = set()

    def add(given: str, p: Path) -> None:
        a = p.expanduser().absolute()
        if a not in seen:
            seen.add(a)
            out.append(InputEntry(given, a))

    for raw in inputs:
        given = str(raw)
        p = Path(given).expanduser()
        if p.is_dir():
            files = _directory_files(p)
            if not files:
                out.append(InputEntry(given, None, f"{given}: directory holds no raw data files"))
            for f in files:
                add(given, f)
        elif p.exists():
            add(given, p)
        elif _GLOB_CHARS & set(given):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(given), recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                out.append(InputEntry(given, None, f"{given}: pattern matches no file"))
            for f in files:
                add(given, f)
        else:
            out.append(InputEntry(given, None, f"{given}: no such file"))
    return out


def _stem(p: Path) -> str:
    name = p.name
    for suffix in (".nii.gz", *RAW_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return p.stem


def output_names(paths: Sequence[Path | None], output_dir: Path, fmt: str) -> list[Path | None]:
    """Output file of every input: ``output_dir/<input stem>.<fmt>``.

    Inputs with the same stem (``a/scan.h5``, ``b/scan.h5``) get ``scan.h5``,
    ``scan_2.h5``, ... in input order, so the mapping is the same on every run
    (``--resume`` relies on it).

    Raises
    ------
    ParameterError
        Unknown ``fmt``.
    """
    if fmt not in OUTPUT_FORMATS:
        raise ParameterError(f"unknown batch output format {fmt!r}; choose one of {OUTPUT_FORMATS}")
    taken: dict[str, int] = {}
    names: list[Path | None] = []
    for p in paths:
        if p is None:
            names.append(None)
            continue
        stem = _stem(p)
        n = taken.get(stem.lower(), 0) + 1
        taken[stem.lower()] = n
        names.append(output_dir / (f"{stem}.{fmt}" if n == 1 else f"{stem}_{n}.{fmt}"))
    return names

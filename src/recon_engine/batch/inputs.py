"""Batch inputs: expand files, directories and glob patterns; name the outputs after the inputs."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from recon_engine.errors import ParameterError

__all__ = [
    "OUTPUT_FORMATS",
    "RAW_SUFFIXES",
    "SERIES_SUFFIXES",
    "InputEntry",
    "expand_inputs",
    "is_dicom_directory",
    "output_names",
]

#: Raw data suffixes a directory input is searched for (ISMRMRD and Siemens twix).
RAW_SUFFIXES: tuple[str, ...] = (".h5", ".mrd", ".hdf5", ".dat")

#: Image-series suffixes a directory input of a fit batch is searched for (besides DICOM folders).
SERIES_SUFFIXES: tuple[str, ...] = (".npy", ".nii", ".nii.gz", ".h5", ".mrd")

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


def is_dicom_directory(d: Path) -> bool:
    """True when ``d`` holds DICOM files (``.dcm``/``.ima``, or the ``DICM`` marker at byte 128)."""
    for f in sorted(d.iterdir()):
        if not f.is_file() or f.name.startswith("."):
            continue
        if f.suffix.lower() in (".dcm", ".ima"):
            return True
        try:
            with open(f, "rb") as fh:
                if fh.read(132)[128:132] == b"DICM":
                    return True
        except OSError:
            continue
    return False


def _directory_files(d: Path, series: bool) -> list[Path]:
    if not series:
        return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in RAW_SUFFIXES)
    out = [p for p in d.iterdir() if p.is_file() and p.name.lower().endswith(SERIES_SUFFIXES)]
    out += [p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".") and is_dicom_directory(p)]
    return sorted(out)


def expand_inputs(inputs: Iterable[str | os.PathLike[str]], *, series: bool = False) -> list[InputEntry]:
    """Expand batch inputs into one entry per file, in the order given.

    A directory contributes its raw data files (``.h5``, ``.mrd``, ``.hdf5``, ``.dat``;
    not recursive, sorted by name); a pattern with ``*``, ``?`` or ``[`` is expanded with
    :func:`glob.glob` (``**`` recursive). A file given twice is kept once. Inputs that
    give no file become entries with an ``error`` (they are reported as failed, not fatal).

    With ``series=True`` (a fit batch) the inputs are image series: a DICOM directory is
    one input; another directory contributes its ``.npy``, NIfTI and ISMRMRD files and its
    DICOM sub-directories; a pattern may match DICOM directories too.

    Parameters
    ----------
    inputs
        File paths, directories and glob patterns.
    series
        Inputs are image series for a fit recipe, not raw data.

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
        if p.is_dir() and series and is_dicom_directory(p):
            add(given, p)
        elif p.is_dir():
            files = _directory_files(p, series)
            if not files:
                what = "image series" if series else "raw data files"
                out.append(InputEntry(given, None, f"{given}: directory holds no {what}"))
            for f in files:
                add(given, f)
        elif p.exists():
            add(given, p)
        elif _GLOB_CHARS & set(given):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(given), recursive=True))
            files = [m for m in matches if m.is_file() or (series and m.is_dir() and is_dicom_directory(m))]
            if not files:
                out.append(InputEntry(given, None, f"{given}: pattern matches no file"))
            for f in files:
                add(given, f)
        else:
            out.append(InputEntry(given, None, f"{given}: no such file"))
    return out


def _stem(p: Path) -> str:
    name = p.name
    for suffix in (".nii.gz", ".nii", ".npy", *RAW_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return p.stem


def output_names(
    paths: Sequence[Path | None], output_dir: Path, fmt: str, *, fit: bool = False
) -> list[Path | None]:
    """Output file of every input: ``output_dir/<input stem>.<fmt>``.

    Inputs with the same stem (``a/scan.h5``, ``b/scan.h5``) get ``scan.h5``,
    ``scan_2.h5``, ... in input order, so the mapping is the same on every run
    (``--resume`` relies on it). With ``fit=True`` the formats are those of a fit batch:
    ``npz`` (``<stem>.npz``) or ``nii.gz`` (a directory ``<stem>_maps`` of NIfTI maps).

    Raises
    ------
    ParameterError
        Unknown ``fmt``.
    """
    from recon_engine.batch.fit import FIT_OUTPUT_FORMATS

    formats = FIT_OUTPUT_FORMATS if fit else OUTPUT_FORMATS
    if fmt not in formats:
        kind = "fit batch" if fit else "batch"
        raise ParameterError(f"unknown {kind} output format {fmt!r}; choose one of {formats}")
    ending = "_maps" if fit and fmt != "npz" else f".{fmt}"
    taken: dict[str, int] = {}
    names: list[Path | None] = []
    for p in paths:
        if p is None:
            names.append(None)
            continue
        stem = _stem(p)
        n = taken.get(stem.lower(), 0) + 1
        taken[stem.lower()] = n
        names.append(output_dir / (f"{stem}{ending}" if n == 1 else f"{stem}_{n}{ending}"))
    return names

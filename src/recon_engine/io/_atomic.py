"""Atomic outputs: write to a temporary file (or directory) beside the target, then rename.

A reader never sees a half-written export, and a failed export leaves nothing behind:
the temporary path lives in the target's directory (so :func:`os.replace` is a rename
on the same file system) and is removed when the write raises.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from recon_engine.errors import ExportError

__all__ = ["atomic_directory", "atomic_file", "check_parent"]


def check_parent(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as an absolute :class:`~pathlib.Path` whose parent directory exists.

    Raises
    ------
    ExportError
        If the directory that should hold ``path`` does not exist or is not a directory.
    """
    p = Path(path).expanduser().absolute()
    parent = p.parent
    if not parent.exists():
        raise ExportError(f"output directory {parent} does not exist")
    if not parent.is_dir():
        raise ExportError(f"output directory {parent} is not a directory")
    return p


def _temp_name(target: Path, kind: str) -> Path:
    # The original name stays at the end, so every suffix (".nii.gz") is kept.
    return target.with_name(f".{kind}-{secrets.token_hex(4)}-{target.name}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file has the same suffixes as ``path`` (``scan.nii.gz`` gives
    ``.tmp-1a2b3c4d-scan.nii.gz``), so writers that choose a format by extension work.
    On an exception the temporary file is removed and ``path`` is left untouched.

    Parameters
    ----------
    path
        Final output file.
    overwrite
        Replace an existing file; when False an existing ``path`` is an error.

    Yields
    ------
    Path
        Where the caller writes.

    Raises
    ------
    ExportError
        If the parent directory is missing, ``path`` is a directory, or ``path``
        exists and ``overwrite`` is False.
    """
    target = check_parent(path)
    if target.is_dir():
        raise ExportError(f"cannot write {target}: it is a directory")
    if target.exists() and not overwrite:
        raise ExportError(f"{target} already exists (pass overwrite=True to replace it)")
    tmp = _temp_name(target, "tmp")
    try:
        yield tmp
        if not tmp.exists():
            raise ExportError(f"writing {target} produced no file")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _replaceable(directory: Path, owned_suffixes: tuple[str, ...]) -> bool:
    return all(e.is_file() and e.name.lower().endswith(owned_suffixes) for e in directory.iterdir())


@contextlib.contextmanager
def atomic_directory(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    owned_suffixes: tuple[str, ...] = (".dcm",),
) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path
        Final output directory. It may be missing or empty; a non-empty one is replaced
        only with ``overwrite=True``.
    overwrite
        Replace an existing non-empty directory.
    owned_suffixes
        Safety net for ``overwrite``: a non-empty directory is replaced only when it
        holds nothing but plain files with these (lower-case) suffixes, i.e. a previous
        export, never a folder with unrelated content.

    Yields
    ------
    Path
        An empty directory the caller fills.

    Raises
    ------
    ExportError
        If the parent directory is missing, ``path`` is a file, or ``path`` is a
        non-empty directory that may not be replaced.
    """
    target = check_parent(path)
    if target.exists() and not target.is_dir():
        raise ExportError(f"cannot write a DICOM series to {target}: it is a file, not a directory")
    non_empty = target.is_dir() and any(target.iterdir())
    if non_empty and not overwrite:
        raise ExportError(f"output directory {target} is not empty (pass overwrite=True to replace it)")
    if non_empty and not _replaceable(target, owned_suffixes):
        raise ExportError(
            f"output directory {target} holds files other than {', '.join(owned_suffixes)}; "
            "refusing to replace it: choose a new or empty directory"
        )
    tmp = _temp_name(target, "tmp")
    tmp.mkdir()
    try:
        yield tmp
        if target.exists():
            old = _temp_name(target, "old")
            os.replace(target, old)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

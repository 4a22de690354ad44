"""One batch task: reconstruct (or fit) one input with a recipe, save it atomically, write its sidecar.

:func:`reconstruct_file` runs inside a Dask worker process (or in the caller's process for
a plain loop). It never raises for a bad file or an engine error: the result dict carries
``status="failed"`` and a one-line reason, so one bad file never stops a batch. With a
:class:`~recon_engine.qmri.fit_recipe.FitRecipe` the input is an image series (or multi-contrast
raw data) and the output its parameter maps (:func:`recon_engine.qmri.write_maps`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recon_engine.qmri.fit_recipe import FitRecipe
from recon_engine.recipe import Recipe

__all__ = [
    "SIDECAR_SUFFIX",
    "Job",
    "one_line",
    "recipe_hash",
    "reconstruct_file",
    "sidecar_path",
    "up_to_date",
]

#: The sidecar beside every output: ``scan.h5`` → ``scan.mrrecon.json``.
SIDECAR_SUFFIX = ".mrrecon.json"


def one_line(exc: BaseException) -> str:
    """An exception as one line; the type name is prefixed unless it is an engine error."""
    from recon_engine.errors import ReconError

    text = " ".join(str(exc).split()) or "(no message)"
    return text if isinstance(exc, ReconError) else f"{type(exc).__name__}: {text}"


def recipe_hash(
    recipe: Recipe | FitRecipe, *, device: str | None = None, seq: str | None = None, fmt: str = ""
) -> str:
    """SHA-256 of what decides a batch output: read options, method, options, preprocessing, device.

    The recipe's own input file and hashes and the package versions are left out (a batch
    applies the recipe to other files; versions are recorded in the sidecar instead).

    Parameters
    ----------
    recipe
        The recipe.
    device
        Device the batch runs on (default: the recipe's).
    seq
        Pulseq ``.seq`` applied to every input (default: the recipe's).
    fmt
        Output format.
    """
    if isinstance(recipe, FitRecipe):
        fit = {**recipe.fit_section(), "device": recipe.device if device is None else device}
        text = json.dumps({"fit": fit, "format": fmt}, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()
    d = {
        "read": recipe.read_options,
        "seq": recipe.seq if seq is None else seq,
        "method": recipe.method,
        "device": recipe.device if device is None else device,
        "preprocess": recipe.preprocess,
        "options": recipe.options,
        "format": fmt,
    }
    text = json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def sidecar_path(output: Path) -> Path:
    """Sidecar JSON of an output file (``scan.nii.gz`` → ``scan.mrrecon.json``)."""
    name = output.name
    for ext in (".nii.gz", ".npy", ".npz", ".nii", ".h5", ".mrd"):
        if name.endswith(ext):
            return output.with_name(name[: -len(ext)] + SIDECAR_SUFFIX)
    return output.with_name(name + SIDECAR_SUFFIX)


@dataclass(frozen=True)
class Job:
    """Everything a worker needs for one file (picklable).

    Attributes
    ----------
    index
        Position in the batch.
    input
        Raw data file (or image series: file or DICOM directory, for a fit recipe).
    output
        Output image file (maps ``.npz`` or NIfTI-map directory for a fit recipe).
    recipe
        What to run (its ``input_file`` is ignored): a reconstruction or a fit recipe.
    recipe_hash
        :func:`recipe_hash` of the batch.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    seq
        Pulseq ``.seq`` for every input, or None.
    threads
        torch threads inside the task.
    """

    index: int
    input: str
    output: str
    recipe: Recipe | FitRecipe
    recipe_hash: str
    device: str = "auto"
    seq: str | None = None
    threads: int = 1


def _file_sha256(path: str) -> str:
    """SHA-256 of a file, or of a directory's files (names and contents, sorted; a DICOM series)."""
    from recon_engine.recipe import file_sha256

    p = Path(path)
    if not p.is_dir():
        return file_sha256(p)
    h = hashlib.sha256()
    for f in sorted(q for q in p.iterdir() if q.is_file()):
        h.update(f.name.encode() + b"\0" + file_sha256(f).encode())
    return h.hexdigest()


def _signature(path: str) -> tuple[int, int]:
    """(size, mtime_ns) of a file; summed and latest over a directory's files."""
    p = Path(path)
    if not p.is_dir():
        st = p.stat()
        return st.st_size, st.st_mtime_ns
    stats = [q.stat() for q in p.iterdir() if q.is_file()]
    return sum(st.st_size for st in stats), max((st.st_mtime_ns for st in stats), default=0)


def _write_json(path: Path, d: dict[str, Any]) -> None:
    from recon_engine.io._atomic import atomic_file

    with atomic_file(path) as tmp:
        Path(tmp).write_text(json.dumps(d, indent=2, default=str) + "\n")


def _write_sidecar(
    job: Job, out: Path, applied: Any, written: list[str], t0: float, worker: str, **extra: int
) -> float:
    """Write the sidecar of a finished task (atomically); returns the task's seconds.

    ``applied`` is the recipe as applied to this input (its hashes and versions filled in),
    ``extra`` per-kind counts (a fit's ``voxels`` and ``failed_voxels``).
    """
    import torch

    size, mtime = _signature(job.input)
    seconds = time.perf_counter() - t0
    _write_json(
        sidecar_path(out),
        {
            "input": job.input,
            "input_sha256": applied.input_sha256,
            "input_size": size,
            "input_mtime_ns": mtime,
            "outputs": written,
            "recipe_hash": job.recipe_hash,
            "recipe": applied.to_dict(),
            "versions": applied.environment,
            **extra,
            "torch_threads": torch.get_num_threads(),
            "worker": worker,
            "seconds": round(seconds, 4),
        },
    )
    return seconds


def reconstruct_file(job: Job) -> dict[str, Any]:
    """Reconstruct ``job.input`` with the recipe and save it to ``job.output``.

    The image is written atomically (temporary file, then rename), then the sidecar
    (:func:`sidecar_path`) with the recipe, its hash, the input's SHA-256, size and mtime,
    the package versions, the worker and the time taken.

    Returns
    -------
    dict
        ``status`` (``"ok"`` or ``"failed"``), ``seconds``, ``outputs`` (list of str),
        ``error`` (one line or None), ``worker`` (``host:pid``), ``index``.
    """
    import torch

    t0 = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    base: dict[str, Any] = {"index": job.index, "worker": worker}
    try:
        torch.set_num_threads(max(1, int(job.threads)))
        if isinstance(job.recipe, FitRecipe):
            return {**base, **_fit_file(job, t0, worker)}
        from recon_engine.api import save
        from recon_engine.progress import run
        from recon_engine.recipe import _versions, run_recipe_steps

        seq = job.seq if job.seq is not None else job.recipe.seq
        recipe = dataclasses.replace(job.recipe, device=job.device, seq=seq)
        image = run(run_recipe_steps(recipe, input_file=job.input))
        out = Path(job.output)
        written = [str(p) for p in save(image, out)]
        applied = dataclasses.replace(
            recipe,
            input_file=job.input,
            input_sha256=_file_sha256(job.input),
            seq_sha256=None if seq is None else _file_sha256(seq),
            environment=_versions(),
        )
        seconds = _write_sidecar(job, out, applied, written, t0, worker)
        return {**base, "status": "ok", "seconds": seconds, "outputs": written, "error": None}
    except Exception as exc:  # one bad file never stops the batch
        return {
            **base,
            "status": "failed",
            "seconds": time.perf_counter() - t0,
            "outputs": [],
            "error": one_line(exc),
        }


def _fit_file(job: Job, t0: float, worker: str) -> dict[str, Any]:
    """The fit-recipe task: fit the series, write the maps, write the sidecar (may raise)."""
    from recon_engine.batch.fit import run_fit_steps
    from recon_engine.progress import run
    from recon_engine.qmri import write_maps
    from recon_engine.recipe import _versions

    assert isinstance(job.recipe, FitRecipe)
    recipe = dataclasses.replace(job.recipe, device=job.device)
    result, affine = run(run_fit_steps(recipe, job.input))
    out = Path(job.output)
    written = [str(p) for p in write_maps(result, out, affine=affine)]
    applied = dataclasses.replace(
        recipe, input_file=job.input, input_sha256=_file_sha256(job.input), environment=_versions()
    )
    seconds = _write_sidecar(
        job, out, applied, written, t0, worker,
        voxels=int(result.mask.sum()), failed_voxels=int(result.options.get("failed_voxels", 0) or 0),
    )  # fmt: skip
    return {"status": "ok", "seconds": seconds, "outputs": written, "error": None}


def up_to_date(input_path: Path, output: Path, digest: str) -> bool:
    """Whether ``output`` exists and was made from this input with a recipe of hash ``digest``.

    The input must still match the sidecar: same size and modification time, or else
    the same SHA-256 (a copied file keeps its bytes but not its mtime).
    """
    side = sidecar_path(output)
    try:
        d = json.loads(side.read_text())
        if d.get("recipe_hash") != digest or not all(Path(p).is_file() for p in d.get("outputs", [])):
            return False
        if not output.exists():
            return False
        size, mtime = _signature(str(input_path))
        if d.get("input_size") == size and d.get("input_mtime_ns") == mtime:
            return True
        return bool(d.get("input_sha256") == _file_sha256(str(input_path)))
    except (OSError, ValueError, AttributeError):
        return False

"""Run a recipe over many files on a Dask cluster: one file = one task.

Without a scheduler a :class:`distributed.LocalCluster` of worker *processes* is started
(one task at a time per worker, ``threads_per_worker`` torch threads inside it, OMP/MKL
pools capped to the same number so workers do not oversubscribe the cores) and closed at
the end. With a scheduler address (``tcp://host:8786``) the batch runs on that cluster:
``dask scheduler`` + ``dask worker``, dask-jobqueue on SLURM, Kubernetes, ...; the inputs and
the output directory must then be visible to the workers under the same paths.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

from recon_engine.batch.fit import load_batch_recipe
from recon_engine.batch.inputs import InputEntry, expand_inputs, output_names
from recon_engine.batch.report import REPORT_NAME, BatchEvent, BatchReport, FileResult
from recon_engine.batch.task import Job, one_line, recipe_hash, reconstruct_file, up_to_date
from recon_engine.errors import ParameterError, ReconError
from recon_engine.progress import ProgressCallback, Steps, run
from recon_engine.qmri.fit_recipe import FitRecipe
from recon_engine.recipe import Recipe

__all__ = ["THREAD_VARIABLES", "default_workers", "run_batch", "run_batch_steps"]

#: Environment variables set to ``threads_per_worker`` in every local worker process.
THREAD_VARIABLES: tuple[str, ...] = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

#: Seconds between periodic progress events while nothing finishes.
TICK_S = 0.5


def default_workers(threads_per_worker: int = 1, n_tasks: int | None = None) -> int:
    """Workers for a local cluster: the cores (``os.cpu_count()``) over the threads per worker."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n = max(1, cores // max(1, threads_per_worker))
    return n if n_tasks is None else max(1, min(n, n_tasks))


@contextlib.contextmanager
def _client(scheduler: Any, workers: int, threads: int) -> Iterator[Any]:
    """A Dask client: given, connected to an address, or on a fresh LocalCluster (closed after)."""
    from distributed import Client, LocalCluster

    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler  # a Client (or anything with submit/wait) owned by the caller
        return
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ParameterError(
                f"cannot connect to the Dask scheduler at {scheduler}: {one_line(exc)}"
            ) from exc
        try:
            yield client
        finally:
            client.close()
        return
    env = {name: str(threads) for name in THREAD_VARIABLES}
    try:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # no dashboard; its small HTTP server (health, metrics) on a free port, not 8787
            scheduler_kwargs={"dashboard_address": ":0"},
            env=env,
        )
    except (OSError, RuntimeError, TimeoutError) as exc:
        msg = f"could not start a local Dask cluster of {workers} workers: {one_line(exc)}"
        raise ReconError(msg) from exc
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _failed_future(fut: Any) -> str:
    try:
        exc = fut.exception()
    except Exception as e:  # cancelled futures raise here
        exc = e
    name = type(exc).__name__
    if name == "KilledWorker":
        return "the worker running it died too often (KilledWorker): out of memory or a crash"
    if name == "CancelledError":
        return "cancelled (scheduler lost or batch stopped)"
    return one_line(exc) if exc is not None else "task failed"


def _running(client: Any) -> int:
    try:
        return sum(len(v) for v in client.processing().values())
    except Exception:
        return -1


def run_batch_steps(
    recipe: Recipe | FitRecipe | str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    *,
    scheduler: Any = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    device: str | None = None,
    resume: bool = False,
    seq: str | os.PathLike[str] | None = None,
    output_format: str | None = None,
    retries: int = 1,
) -> Steps[BatchReport]:
    """A batch as a progress generator: yields :class:`BatchEvent`, returns the :class:`BatchReport`.

    Parameters
    ----------
    recipe
        A :class:`~recon_engine.recipe.Recipe`, a :class:`~recon_engine.qmri.fit_recipe.FitRecipe`
        or a YAML path of either (``mrrecon_recipe`` / ``mrrecon_fit_recipe``); its method,
        options, preprocessing and read options (or its model, times and fit options) are
        applied to every input.
    inputs
        Raw data files (ISMRMRD, Siemens twix), directories and glob patterns; for a fit
        recipe without a mapping method, image series (``.npy``, NIfTI, DICOM directories,
        ISMRMRD images).
    output_dir
        Created if needed; gets ``<input stem>.<format>`` per input, its sidecar
        ``<input stem>.mrrecon.json`` and ``batch_report.json``.
    scheduler
        None: start a local cluster; a ``tcp://host:port`` address; or a
        ``distributed.Client`` owned by the caller (left open).
    workers
        Local cluster size (default: cores / ``threads_per_worker``, at most the files).
    threads_per_worker
        torch (and OMP/MKL) threads inside each task; each worker runs one task at a time.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``; None (default) keeps the recipe's device.
    resume
        Skip inputs whose output exists with a sidecar of the same recipe hash and input.
    seq
        Pulseq ``.seq`` for every input (default: the recipe's); not for fit recipes.
    output_format
        ``"h5"`` (ISMRMRD images, the default), ``"npy"``, ``"nii"`` or ``"nii.gz"``; for a
        fit recipe ``"npz"`` (the default: one file of maps) or ``"nii.gz"`` (a directory
        ``<stem>_maps`` with one NIfTI per map).
    retries
        Dask retries of a task that raised (a killed worker's tasks are rescheduled anyway).

    Returns
    -------
    BatchReport
        Also written to ``output_dir/batch_report.json``. Stopping the generator
        (``close()``) cancels what has not finished and writes the report of what did.

    Raises
    ------
    ParameterError
        Bad ``threads_per_worker``/``workers``/``output_format``, no inputs, or an
        unreachable scheduler.
    FileFormatError
        Unreadable recipe file.
    """
    t0 = time.perf_counter()
    if threads_per_worker < 1 or (workers is not None and workers < 1):
        raise ParameterError("workers and threads per worker must be at least 1")
    if not inputs:
        raise ParameterError("no batch inputs given (files, directories or glob patterns)")
    rec = recipe if isinstance(recipe, Recipe | FitRecipe) else load_batch_recipe(recipe)
    fit = isinstance(rec, FitRecipe)
    series = isinstance(rec, FitRecipe) and not rec.raw
    if fit and seq is not None:
        raise ParameterError("--seq applies to reconstruction recipes, not to fit recipes")
    fmt = output_format or ("npz" if fit else "h5")
    seq_s = None if seq is None else str(Path(seq).absolute())
    device = rec.device if device is None else str(device)
    digest = recipe_hash(rec, device=device, seq=seq_s, fmt=fmt)
    out_dir = Path(output_dir).expanduser().absolute()
    entries: list[InputEntry] = expand_inputs(inputs, series=series)
    outputs = output_names([e.path for e in entries], out_dir, fmt, fit=fit)
    out_dir.mkdir(parents=True, exist_ok=True)

    results: list[FileResult | None] = [None] * len(entries)
    jobs: list[Job] = []
    for i, (e, out) in enumerate(zip(entries, outputs, strict=True)):
        if e.path is None or out is None:
            results[i] = FileResult(e.given, "failed", error=e.error)
        elif resume and up_to_date(e.path, out, digest):
            results[i] = FileResult(str(e.path), "skipped", output=str(out))
        else:
            jobs.append(Job(i, str(e.path), str(out), rec, digest, device, seq_s, threads_per_worker))
    report = BatchReport(
        files=[], recipe=rec.to_dict(), recipe_hash=digest, output_dir=str(out_dir), versions=rec.environment
    )
    total = len(entries)
    started = time.perf_counter()

    def event(result: FileResult | None, running: int) -> BatchEvent:
        done = [r for r in results if r is not None]
        n_fin = len(done)
        ran = sum(r.status != "skipped" and r.worker is not None for r in done)
        elapsed = time.perf_counter() - started
        left = total - n_fin
        eta = elapsed / ran * left if ran else -1.0
        return BatchEvent(
            stage="batch" if result is None else f"{result.status}: {Path(result.input).name}",
            iteration=n_fin,
            total=total,
            metrics={
                "done": float(sum(r.status == "ok" for r in done)),
                "failed": float(sum(r.status == "failed" for r in done)),
                "skipped": float(sum(r.status == "skipped" for r in done)),
                "running": float(max(running, 0)),
                "queued": float(max(left - max(running, 0), 0)),
                "elapsed_s": elapsed,
                "eta_s": eta if left else 0.0,
            },
            result=result,
        )

    try:
        for r in list(results):
            if r is not None:
                yield event(r, 0)
        if jobs:
            n_workers = workers or default_workers(threads_per_worker, len(jobs))
            with _client(scheduler, n_workers, threads_per_worker) as client:
                report.scheduler = str(getattr(client, "scheduler", None) and client.scheduler.address)
                with contextlib.suppress(Exception):
                    n_workers = len(client.scheduler_info().get("workers", {})) or n_workers
                report.workers = n_workers
                yield from _drive(client, jobs, results, event, retries, n_workers)
    except GeneratorExit:
        report.stopped = True
        raise
    finally:
        if report.stopped and scheduler is None:
            # the local cluster is closed: a task it killed mid-write may have left a temporary file
            _remove_partial([Path(j.output) for j in jobs if results[j.index] is None])
        report.files = [
            r
            if r is not None
            else FileResult(
                str(entries[i].path or entries[i].given), "failed", error="not run (batch stopped)"
            )
            for i, r in enumerate(results)
        ]
        report.seconds = time.perf_counter() - t0
        with contextlib.suppress(OSError):
            report.save(out_dir / REPORT_NAME)
    return report


def _remove_partial(outputs: list[Path]) -> None:
    """Remove the temporary files (``.tmp-*-<name>``) that killed tasks left for these outputs."""
    import shutil

    from recon_engine.batch.task import sidecar_path

    for out in outputs:
        for target in (out, sidecar_path(out)):
            for tmp in target.parent.glob(f".tmp-*-{glob_escape(target.name)}"):
                with contextlib.suppress(OSError):
                    if tmp.is_dir():
                        shutil.rmtree(tmp)
                    else:
                        tmp.unlink()


def _drive(
    client: Any,
    jobs: list[Job],
    results: list[FileResult | None],
    event: Any,
    retries: int,
    slots: int,
) -> Steps[None]:
    from distributed import wait

    futures = {
        client.submit(
            reconstruct_file,
            job,
            key=f"mrrecon-batch-{job.recipe_hash[:8]}-{job.index}-{os.urandom(3).hex()}",
            retries=retries,
            pure=False,
        ): job
        for job in jobs
    }
    pending = set(futures)
    last_tick = time.perf_counter()
    try:
        while pending:
            try:
                done, _ = wait(list(pending), timeout=TICK_S, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
            for fut in done:
                pending.discard(fut)
                job = futures[fut]
                if fut.status == "finished":
                    d = fut.result()
                    outs = d.get("outputs") or []
                    res = FileResult(
                        job.input,
                        d["status"],
                        float(d["seconds"]),
                        outs[0] if outs else None,
                        d.get("error"),
                        d.get("worker"),
                    )
                else:
                    res = FileResult(job.input, "failed", error=_failed_future(fut), worker="?")
                results[job.index] = res
                yield event(res, min(_running(client), slots))
            now = time.perf_counter()
            if pending and now - last_tick >= TICK_S:
                last_tick = now
                yield event(None, min(_running(client), slots))
    finally:
        if pending:
            with contextlib.suppress(Exception):
                client.cancel(list(pending))


def run_batch(
    recipe: Recipe | FitRecipe | str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    *,
    scheduler: Any = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    device: str | None = None,
    resume: bool = False,
    progress: ProgressCallback | None = None,
    seq: str | os.PathLike[str] | None = None,
    output_format: str | None = None,
    retries: int = 1,
) -> BatchReport:
    """Run a recipe over many files and return the report (see :func:`run_batch_steps`).

    ``progress`` receives every :class:`BatchEvent` (``event.result`` is the file that
    just finished, or None on a periodic tick).
    """
    return run(
        run_batch_steps(
            recipe,
            inputs,
            output_dir,
            scheduler=scheduler,
            workers=workers,
            threads_per_worker=threads_per_worker,
            device=device,
            resume=resume,
            seq=seq,
            output_format=output_format,
            retries=retries,
        ),
        progress,  # type: ignore[arg-type]
    )

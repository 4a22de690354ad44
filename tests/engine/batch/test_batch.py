"""Batch reconstruction on a real Dask LocalCluster (2 worker processes, one module-scoped cluster)."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recon_engine.batch import (
    BatchEvent,
    FileResult,
    Job,
    expand_inputs,
    output_names,
    recipe_hash,
    reconstruct_file,
    run_batch,
    run_batch_steps,
    sidecar_path,
    up_to_date,
)
from recon_engine.cli import main
from recon_engine.errors import ParameterError
from recon_engine.recipe import Recipe
from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SAMPLES = sorted((ROOT / "sample_data").glob("*.h5"))


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "sense.yaml"
    Recipe.create(SAMPLES[0], method="sense", device="cpu", options={"iterations": 8}).save(path)
    return path


def _corrupt(path: Path) -> Path:
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"not really hdf5" * 20)
    return path


# --- pure parts (no cluster) --------------------------------------------------------------


def test_expand_inputs_files_directories_globs_and_missing(tmp_path: Path) -> None:
    for name in ("b.h5", "a.dat", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    entries = expand_inputs(
        [tmp_path, str(tmp_path / "*.h5"), tmp_path / "gone.h5", str(tmp_path / "*.mrd"), tmp_path / "empty"]
    )
    assert [e.path.name if e.path else None for e in entries] == ["a.dat", "b.h5", None, None, None]
    errors = [e.error for e in entries if e.error]
    assert "no such file" in errors[0]
    assert "matches no file" in errors[1]
    assert "no raw data" in errors[2]


def test_output_names_are_stable_and_unique(tmp_path: Path) -> None:
    paths = [Path("/a/scan.h5"), None, Path("/b/scan.h5"), Path("/c/other.dat")]
    names = output_names(paths, tmp_path, "nii.gz")
    assert [n.name if n else None for n in names] == ["scan.nii.gz", None, "scan_2.nii.gz", "other.nii.gz"]
    assert sidecar_path(tmp_path / "scan.nii.gz").name == "scan.mrrecon.json"
    with pytest.raises(ParameterError, match="unknown batch output format"):
        output_names(paths, tmp_path, "dcm")


def test_recipe_hash_ignores_input_and_versions_but_not_options() -> None:
    a = Recipe(input_file="x.h5", method="sense", options={"iterations": 8}, environment={"torch": "1"})
    b = Recipe(input_file="y.h5", method="sense", options={"iterations": 8}, environment={"torch": "2"})
    c = Recipe(input_file="x.h5", method="sense", options={"iterations": 9})
    assert recipe_hash(a) == recipe_hash(b)
    assert recipe_hash(a) != recipe_hash(c)
    assert recipe_hash(a) != recipe_hash(a, device="cuda")
    assert recipe_hash(a, fmt="npy") != recipe_hash(a, fmt="h5")


def test_task_reports_a_bad_file_instead_of_raising(tmp_path: Path) -> None:
    bad = _corrupt(tmp_path / "bad.h5")
    job = Job(0, str(bad), str(tmp_path / "bad.npy"), Recipe(input_file="x", method="direct"), "h", "cpu")
    d = reconstruct_file(job)
    assert d["status"] == "failed"
    assert "corrupt or truncated" in d["error"]
    assert "\n" not in d["error"]
    assert not (tmp_path / "bad.npy").exists()
    assert not any(tmp_path.glob(".tmp-*"))


def test_progress_line_shows_counts_and_eta() -> None:
    from recon_engine.cli.batch import format_progress

    metrics = {"done": 11.0, "failed": 1.0, "skipped": 0.0, "running": 2.0, "eta_s": 83.0}
    line = format_progress(BatchEvent("batch", 12, 48, metrics=metrics), width=8)
    assert line == "[##......] 12/48  ok 11  failed 1  skipped 0  running 2  ETA 01:23"
    assert format_progress(BatchEvent("batch", 0, 3, metrics={"eta_s": -1.0})).endswith("ETA --:--")


def test_bad_usage_is_exit_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["batch", str(tmp_path / "none.yaml"), str(SAMPLES[0]), "-o", str(tmp_path / "o")]) == 2
    assert "no such recipe file" in capsys.readouterr().err
    with pytest.raises(ParameterError, match="no batch inputs"):
        run_batch(Recipe(input_file="x"), [], tmp_path)


# --- on the cluster -------------------------------------------------------------------------


def _mrrecon_run(recipe: Path, raw: Path, out: Path) -> bytes:
    assert main(["run", str(recipe), "-i", str(raw), "-o", str(out), "-q"]) == 0
    return out.read_bytes()


def test_batch_equals_mrrecon_run_reports_bad_files_and_resumes(
    client: Any, recipe_file: Path, tmp_path: Path
) -> None:
    bad = _corrupt(tmp_path / "corrupt.h5")
    missing = tmp_path / "missing.h5"
    out = tmp_path / "out"
    events: list[BatchEvent] = []
    inputs = [str(ROOT / "sample_data" / "*.h5"), bad, missing]
    report = run_batch(
        recipe_file, inputs, out, scheduler=client, output_format="npy", progress=events.append
    )
    status = {Path(f.input).name: f.status for f in report.files}
    assert status == {**{p.name: "ok" for p in SAMPLES}, "corrupt.h5": "failed", "missing.h5": "failed"}
    errors = {Path(f.input).name: f.error for f in report.files if f.error}
    assert "corrupt or truncated" in errors["corrupt.h5"]
    assert "no such file" in errors["missing.h5"]
    # every finished file came as one event with its result; the last event counts all
    finished = [e.result for e in events if e.result is not None]
    assert sorted(Path(r.input).name for r in finished) == sorted(status)
    assert events[-1].iteration == events[-1].total == len(status)
    assert events[-1].metrics["done"] == len(SAMPLES)
    assert events[-1].metrics["failed"] == 2

    for raw in SAMPLES:  # bit for bit what `mrrecon run` writes for the same file
        got = (out / f"{raw.stem}.npy").read_bytes()
        assert got == _mrrecon_run(recipe_file, raw, tmp_path / f"ref_{raw.stem}.npy")
        side = json.loads(sidecar_path(out / f"{raw.stem}.npy").read_text())
        assert side["recipe"]["reconstruct"]["method"] == "sense"
        assert side["recipe"]["reconstruct"]["options"] == {"iterations": 8}
        assert side["recipe_hash"] == report.recipe_hash
        assert side["torch_threads"] == 1
        assert side["versions"]["torch"]
    saved = json.loads((out / "batch_report.json").read_text())
    assert saved["counts"] == {"ok": len(SAMPLES), "failed": 2, "skipped": 0}
    assert {f["status"] for f in saved["files"]} == {"ok", "failed"}

    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    again = run_batch(
        recipe_file, [str(p) for p in SAMPLES], out, scheduler=client, output_format="npy", resume=True
    )
    assert [f.status for f in again.files] == ["skipped"] * len(SAMPLES)
    assert all(f.worker is None for f in again.files)
    assert stamps == {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    # another recipe (other options) is not "up to date"
    other = recipe_hash(
        Recipe(input_file="x", method="sense", device="cpu", options={"iterations": 9}), fmt="npy"
    )
    assert not up_to_date(SAMPLES[0], out / f"{SAMPLES[0].stem}.npy", other)


def test_cli_batch_on_a_running_scheduler_exit_status(
    client: Any, recipe_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    addr = client.scheduler.address
    out = tmp_path / "cli"
    args = ["batch", str(recipe_file), "-o", str(out), "--scheduler", addr, "--format", "h5"]
    assert main([*args, str(SAMPLES[0]), str(tmp_path / "nope.h5")]) == 1
    text = capsys.readouterr()
    assert "1 ok, 1 failed" in text.out
    assert "nope.h5: no such file" in text.err
    assert main([*args, str(SAMPLES[0]), "--resume"]) == 0
    assert "0 ok, 0 failed, 1 skipped" in capsys.readouterr().out
    from recon_engine.io.ismrmrd_images import read_ismrmrd_images

    img = read_ismrmrd_images(out / f"{SAMPLES[0].stem}.h5")
    assert tuple(img.data.shape[-2:]) == (128, 128)


def test_stopping_the_generator_cancels_the_rest_and_writes_the_report(
    client: Any, recipe_file: Path, tmp_path: Path
) -> None:
    copies = []
    for i in range(8):
        copies.append(tmp_path / f"c{i}.h5")
        shutil.copyfile(SAMPLES[0], copies[-1])
    steps = run_batch_steps(recipe_file, copies, tmp_path / "out", scheduler=client, output_format="npy")
    for event in steps:
        if event.result is not None:
            break
    steps.close()
    saved = json.loads((tmp_path / "out" / "batch_report.json").read_text())
    assert saved["stopped"] is True
    assert saved["counts"]["ok"] >= 1
    stopped = [f for f in saved["files"] if f["error"] == "not run (batch stopped)"]
    assert saved["counts"]["ok"] + len(stopped) == len(copies)


def test_killed_worker_still_completes_every_file(client: Any, recipe_file: Path, tmp_path: Path) -> None:
    copies = []
    for i in range(6):
        copies.append(tmp_path / f"copy{i}.h5")
        shutil.copyfile(SAMPLES[0], copies[-1])
    killed: list[int] = []
    steps = run_batch_steps(recipe_file, copies, tmp_path / "out", scheduler=client, output_format="npy")
    report = None
    try:
        while True:
            event = next(steps)
            if not killed and event.result is not None:
                busy = [w for w, keys in client.processing().items() if keys]
                if busy:
                    pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
    except StopIteration as stop:
        report = stop.value
    assert killed, "no worker was busy to be killed"
    assert [f.status for f in report.files] == ["ok"] * len(copies)
    ref = np.load(tmp_path / "out" / "copy0.npy")
    for i in range(1, len(copies)):
        assert np.array_equal(np.load(tmp_path / "out" / f"copy{i}.npy"), ref)
    assert isinstance(report.files[0], FileResult)
    client.wait_for_workers(2, timeout=60)


def test_local_cluster_started_by_run_batch(recipe_file: Path, tmp_path: Path) -> None:
    report = run_batch(recipe_file, [SAMPLES[0]], tmp_path, workers=1, output_format="npy")
    assert report.ok
    assert report.workers == 1
    assert report.scheduler and report.scheduler.startswith("tcp://127.0.0.1")
    assert (tmp_path / f"{SAMPLES[0].stem}.npy").is_file()

"""Fit recipes as batch inputs: image series in, qMRI maps out, on a Dask LocalCluster of 2 processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from recon_engine.batch import (
    FitRecipe,
    expand_inputs,
    load_batch_recipe,
    output_names,
    recipe_hash,
    run_batch,
    sidecar_path,
)
from recon_engine.cli import main
from recon_engine.errors import FileFormatError, ParameterError
from recon_engine.progress import run
from recon_engine.qmri import fit_steps, load_series
from recon_engine.recipe import Recipe
from recon_engine.simulate.qmri_series import DEFAULT_TI_MS, inversion_recovery_series

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N = 32


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two IR series of the tissue phantom (32², 8 TIs), a.npy and b.nii.gz, and a corrupt c.npy."""
    import nibabel as nib

    d = tmp_path_factory.mktemp("series")
    np.save(d / "a.npy", inversion_recovery_series(N, seed=1).data.astype(np.float32))
    b = inversion_recovery_series(N, seed=2).data.astype(np.float32)  # (t, y, x)
    nib.save(nib.Nifti1Image(np.transpose(b[:, None], (3, 2, 1, 0)), np.eye(4)), d / "b.nii.gz")
    (d / "c.npy").write_bytes(b"\x93NUMPY\x01\x00" + b"garbage" * 10)
    (d / "notes.txt").write_text("not a series")
    return d


@pytest.fixture(scope="module")
def fit_recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "t1.fit.yaml"
    FitRecipe(model="ir", times=list(DEFAULT_TI_MS), device="cpu", max_iterations=20).save(path)
    return path


# --- pure parts -----------------------------------------------------------------------------


def test_fit_recipe_round_trip_and_the_raw_layout_of_mrrecon_fit(tmp_path: Path, fit_recipe: Path) -> None:
    rec = load_batch_recipe(fit_recipe)
    assert isinstance(rec, FitRecipe) and not rec.raw
    assert (rec.model, rec.times, rec.max_iterations, rec.device) == ("ir", list(DEFAULT_TI_MS), 20, "cpu")
    # what `mrrecon fit RAW --method two-step --save-recipe` writes
    raw = {
        "mrrecon_fit_recipe": 1,
        "input": {"file": "ir_raw.h5", "sha256": "ab"},
        "fit": {"model": "ir", "method": "two-step", "times": None, "flip_angles": None, "tr": None,
                "mask_threshold": 0.05, "device": "cpu", "method_options": {"iterations": 12},
                "model_options": {}},
        "environment": {"torch": "x"},
    }  # fmt: skip
    (tmp_path / "raw.yaml").write_text(yaml.safe_dump(raw))
    r = load_batch_recipe(tmp_path / "raw.yaml")
    assert isinstance(r, FitRecipe) and r.raw and r.method_options == {"iterations": 12}
    assert r.to_dict() == raw  # one layout: what is read is written back unchanged
    assert FitRecipe.load(r.save(tmp_path / "again.yaml")) == r
    # create: numpy values become plain YAML values; a folder (DICOM series) has no file hash
    made = FitRecipe.create(
        tmp_path, model="ir", times=np.array(DEFAULT_TI_MS), model_options={"signed": np.bool_(False)}
    )
    assert made.input_sha256 is None and made.times == list(map(float, DEFAULT_TI_MS))
    assert FitRecipe.load(made.save(tmp_path / "made.yaml")) == made and "torch" in made.environment
    # a reconstruction recipe still loads as one
    Recipe(input_file="x.h5", method="direct").save(tmp_path / "recon.yaml")
    assert isinstance(load_batch_recipe(tmp_path / "recon.yaml"), Recipe)
    # the hash follows what decides the maps, not the input or the versions
    other_input = FitRecipe(
        model="ir", times=list(DEFAULT_TI_MS), device="cpu", max_iterations=20, input_file="z"
    )
    assert recipe_hash(rec) == recipe_hash(other_input)
    assert recipe_hash(rec) != recipe_hash(FitRecipe(model="ir", times=[1.0, 2.0], device="cpu"))
    with pytest.raises(ParameterError, match="unknown mapping method"):
        FitRecipe.from_dict({"mrrecon_fit_recipe": 1, "fit": {"model": "ir", "method": "magic"}})
    with pytest.raises(FileFormatError, match="lacks 'fit'"):
        FitRecipe.from_dict({"mrrecon_fit_recipe": 1})


def test_series_inputs_expand_to_files_and_dicom_folders(series_dir: Path, tmp_path: Path) -> None:
    dicom = tmp_path / "dicom_series"
    dicom.mkdir()
    (dicom / "IM0001").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)
    (tmp_path / "s.npy").write_bytes(b"x")
    entries = expand_inputs([series_dir, dicom, tmp_path], series=True)
    names = [e.path.name for e in entries if e.path is not None]
    assert names == ["a.npy", "b.nii.gz", "c.npy", "dicom_series", "s.npy"]
    # as raw-data inputs, the same folder holds nothing usable
    assert expand_inputs([series_dir])[0].error is not None
    outs = output_names([e.path for e in entries], tmp_path / "o", "npz", fit=True)
    assert [o.name for o in outs if o is not None][:3] == ["a.npz", "b.npz", "c.npz"]
    assert output_names([series_dir / "b.nii.gz"], tmp_path, "nii.gz", fit=True)[0] == tmp_path / "b_maps"
    with pytest.raises(ParameterError, match="fit batch output format"):
        output_names([series_dir / "a.npy"], tmp_path, "h5", fit=True)


# --- on the cluster -------------------------------------------------------------------------


def test_fit_batch_gives_two_maps_and_one_failure(
    client: Any, series_dir: Path, fit_recipe: Path, tmp_path: Path
) -> None:
    out = tmp_path / "maps"
    report = run_batch(fit_recipe, [series_dir], out, scheduler=client)
    status = {Path(f.input).name: f.status for f in report.files}
    assert status == {"a.npy": "ok", "b.nii.gz": "ok", "c.npy": "failed"}
    (bad,) = [f for f in report.files if f.status == "failed"]
    assert bad.error and "c.npy" in bad.error and "\n" not in bad.error
    assert not (out / "c.npz").exists()

    truth = inversion_recovery_series(N, seed=1).truth
    for name, seed in (("a.npy", 1), ("b.nii.gz", 2)):
        stem = name.split(".")[0]
        with np.load(out / f"{stem}.npz") as z:
            t1 = z["t1"]
            assert str(z["model"]) == "ir"
        # the worker's maps equal the same fit in this process (one torch thread both)
        here = run(
            fit_steps(
                load_series(series_dir / name, times=DEFAULT_TI_MS), "ir", max_iterations=20, device="cpu"
            )
        )
        np.testing.assert_array_equal(t1, here.maps["t1"])
        brain = (truth["t1"] > 0) & np.isfinite(t1)
        assert brain.sum() > 0.3 * N * N
        rel = np.median(np.abs(t1[brain] - truth["t1"][brain]) / truth["t1"][brain])
        assert rel < 0.05, (name, seed, rel)
        side = json.loads(sidecar_path(out / f"{stem}.npz").read_text())
        assert side["recipe"]["fit"]["model"] == "ir"
        assert side["recipe_hash"] == report.recipe_hash
        assert side["voxels"] == int(np.isfinite(t1).sum())

    again = run_batch(
        fit_recipe, [series_dir / "a.npy", series_dir / "b.nii.gz"], out, scheduler=client, resume=True
    )
    assert [f.status for f in again.files] == ["skipped", "skipped"]


def test_cli_fit_batch_writes_nifti_maps(
    client: Any, series_dir: Path, fit_recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import nibabel as nib

    out = tmp_path / "nii"
    args = ["batch", str(fit_recipe), str(series_dir / "*.nii.gz"), "-o", str(out), "--format", "nii.gz"]
    assert main([*args, "--scheduler", client.scheduler.address]) == 0
    t1 = np.asarray(nib.load(out / "b_maps" / "t1.nii.gz").dataobj)
    assert t1.shape == (N, N, 1)
    assert "1 ok, 0 failed" in capsys.readouterr().out
    assert (
        main([*args[:1], str(fit_recipe), str(series_dir / "a.npy"), "-o", str(out), "--seq", "x.seq"]) == 2
    )


def test_raw_fit_recipe_saved_by_mrrecon_fit_maps_raw_kspace(tmp_path: Path) -> None:
    from recon_engine import read
    from recon_engine.batch import Job, reconstruct_file
    from recon_engine.qmri.model_based import map_raw_steps
    from recon_engine.simulate.qmri_raw import write_qmri_raw

    raw, _ = write_qmri_raw("ir", tmp_path / "ir_raw.h5", n=32)
    saved = tmp_path / "two_step.yaml"
    args = ["fit", str(raw), "--model", "ir", "--method", "two-step", "--device", "cpu", "-q"]
    assert main([*args, "--save-recipe", str(saved), "-o", str(tmp_path / "cli.npz")]) == 0
    rec = load_batch_recipe(saved)
    assert isinstance(rec, FitRecipe) and rec.raw and rec.method == "two-step"
    assert expand_inputs([tmp_path], series=not rec.raw)[0].path == raw  # a folder of raw files
    d = reconstruct_file(Job(0, str(raw), str(tmp_path / "batch.npz"), rec, recipe_hash(rec), "cpu"))
    assert d["status"] == "ok", d["error"]
    direct = run(map_raw_steps(read(raw), "ir", "two-step", device="cpu"))
    with np.load(tmp_path / "batch.npz") as z, np.load(tmp_path / "cli.npz") as cli:
        np.testing.assert_array_equal(z["t1"], direct.maps["t1"])
        np.testing.assert_array_equal(z["t1"], cli["t1"])


def test_series_fit_recipe_saved_by_mrrecon_fit_replays_in_mrrecon_batch(
    client: Any, series_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    times = ",".join(f"{t:g}" for t in DEFAULT_TI_MS)
    fit = ["fit", "--model", "ir", "--times", times, "--mask-threshold", "0.1", "--max-iterations", "20"]
    fit += ["--device", "cpu", "-q"]
    saved = tmp_path / "series.fit.yaml"
    first = [fit[0], str(series_dir / "a.npy"), *fit[1:]]
    assert main([*first, "--save-recipe", str(saved), "-o", str(tmp_path / "a.npz")]) == 0
    doc = yaml.safe_load(saved.read_text())
    assert doc["fit"] == {
        "model": "ir", "method": None, "times": list(map(float, DEFAULT_TI_MS)), "flip_angles": None,
        "tr": None, "mask_threshold": 0.1, "max_iterations": 20, "device": "cpu", "method_options": {},
        "model_options": {},
    }  # fmt: skip
    assert doc["input"]["file"] == str(series_dir / "a.npy") and len(doc["input"]["sha256"]) == 64
    # the recipe replayed by `mrrecon batch` on another series gives the maps of `mrrecon fit` on it
    assert main([fit[0], str(series_dir / "b.nii.gz"), *fit[1:], "-o", str(tmp_path / "direct.npz")]) == 0
    out = tmp_path / "batch"
    args = ["batch", str(saved), str(series_dir / "b.nii.gz"), "-o", str(out)]
    assert main([*args, "--scheduler", client.scheduler.address]) == 0
    assert "1 ok, 0 failed" in capsys.readouterr().out
    with np.load(out / "b.npz") as z, np.load(tmp_path / "direct.npz") as direct:
        assert int(np.isfinite(z["t1"]).sum()) > 0.3 * N * N
        for name in ("t1", "m0", "mask"):
            np.testing.assert_array_equal(z[name], direct[name])
    # a subject's B1 map cannot go into a recipe
    np.save(tmp_path / "b1.npy", np.ones((N, N), np.float32))
    b1 = ["--b1", str(tmp_path / "b1.npy"), "--save-recipe", str(tmp_path / "x.yaml")]
    assert main([*first, *b1, "-o", str(tmp_path / "x.npz")]) == 2
    assert "--b1" in capsys.readouterr().err and not (tmp_path / "x.yaml").exists()

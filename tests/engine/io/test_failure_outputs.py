"""Failed runs never modify their inputs and leave no partial output (issue 13).

``mrrecon recon`` and ``mrrecon fit`` on damaged inputs, and on good inputs whose export fails
half-way, into an output folder: the inputs' hashes are unchanged and the folder holds no file
afterwards (exports go to a temporary name beside the target and are renamed on success).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from recon_engine.cli import main
from tests.conftest import ROOT
from tests.engine.io._fuzz import fuzz

SAMPLE = ROOT / "sample_data" / "phantom_R2.h5"
TIMES = "10,25,50,90,150,250"


def _hashes(*paths: Path) -> dict[str, str]:
    files = [f for p in paths for f in (sorted(p.rglob("*")) if p.is_dir() else [p]) if f.is_file()]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _left(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def damaged_raw(tmp_path: Path) -> Path:
    p = Path(shutil.copyfile(SAMPLE, tmp_path / "damaged.h5"))
    raw = bytearray(p.read_bytes())
    raw[1173131 : 1173131 + 65536] = bytes(65536)  # samples' heap zeroed
    p.write_bytes(bytes(raw))
    return p


@pytest.mark.parametrize("name", ["image.nii.gz", "image.npy", "image.h5", "dicom"])
def test_failed_recon_leaves_inputs_and_output_folder_untouched(
    damaged_raw: Path, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    before = _hashes(damaged_raw)
    assert main(["recon", str(damaged_raw), "-o", str(out / name), "-q", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mrrecon: error: ")
    assert _hashes(damaged_raw) == before
    assert _left(out) == []


def test_export_failing_half_way_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    before = _hashes(SAMPLE)

    def half_written(img: object, filename: object) -> None:
        Path(str(filename)).write_bytes(b"\x5c\x01\x00\x00partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nib, "save", half_written)
    assert main(["recon", str(SAMPLE), "-o", str(out / "image.nii.gz"), "-q", "--device", "cpu"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert _hashes(SAMPLE) == before
    assert _left(out) == []


def _series_files(tmp_path: Path) -> dict[str, Path]:
    src = fuzz().generated_sources(tmp_path / "series")
    return {s.kind: (s.files[0] if s.kind != "dicom" else s.files[0].parent) for s in src}


@pytest.mark.parametrize("kind", ["npy", "nifti", "dicom"])
def test_failed_fit_leaves_inputs_and_output_folder_untouched(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _series_files(tmp_path)[kind]
    target = sorted(path.iterdir())[2] if path.is_dir() else path
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) * 2 // 3])  # truncated
    before = _hashes(path)
    out = tmp_path / "out"
    out.mkdir()
    argv = ["fit", str(path), "--model", "t2", "-o", str(out / "maps.npz"), "-q", "--device", "cpu"]
    assert main([*argv, "--times", TIMES] if kind != "dicom" else argv) == 2
    assert capsys.readouterr().err.startswith("mrrecon: error: ")
    assert _hashes(path) == before
    assert _left(out) == []


def test_fit_export_failing_half_way_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _series_files(tmp_path)["npy"]
    out = tmp_path / "out"
    out.mkdir()
    calls = {"n": 0}
    real_save = nib.save

    def second_fails(img: nib.Nifti1Image, filename: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(5, "Input/output error")
        real_save(img, filename)

    monkeypatch.setattr(nib, "save", second_fails)
    argv = ["fit", str(path), "--model", "t2", "--times", TIMES, "-o", str(out / "maps"), "-q"]
    assert main(argv) == 2
    assert calls["n"] == 2
    assert _left(out) == []
    assert np.load(path).shape == (6, 16, 16)

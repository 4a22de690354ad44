from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest

import recon_engine as mr
from recon_engine.cli import main


def test_info_text_and_json(
    tmp_path: Path, ismrmrd_tool: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    p = ismrmrd_tool(tmp_path, "-m", "64", "-c", "4", "-a", "2", "-w", "16", "-C")
    assert main(["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "128 × 64 × 1" in out and "ACQ_IS_PARALLEL_CALIBRATION" in out
    assert main(["info", str(p), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["encoded_matrix"] == [128, 64, 1]
    assert d["recon_matrix"] == [64, 64, 1]
    assert d["coils"] == 4
    assert d["trajectory"] == "cartesian"
    assert d["acceleration_nominal"] == [2, 1]
    assert d["acceleration_effective"] == pytest.approx(1.6)  # 40 of 64 lines per repetition
    assert d["acquisitions_by_kind"]["noise"] == 1
    assert d["acquisitions_by_flag"]["ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING"] == 16


@pytest.mark.parametrize("suffix", [".npy", ".nii.gz", ".h5"])
def test_recon_writes_each_format(tmp_path: Path, ismrmrd_tool: Callable[..., Path], suffix: str) -> None:
    p = ismrmrd_tool(tmp_path, "-m", "64", "-c", "4", "-C")
    out = tmp_path / f"img{suffix}"
    assert main(["recon", str(p), "-o", str(out), "--combine", "adaptive", "--device", "cpu", "-q"]) == 0
    expected = mr.reconstruct(mr.read(p), combine="adaptive").magnitude()[0, 0]
    if suffix == ".npy":
        a = np.load(out)
        assert a.shape == (64, 64) and a.dtype == np.complex64
        np.testing.assert_allclose(np.abs(a), expected, rtol=1e-5, atol=1e-6)
    elif suffix == ".nii.gz":
        a = np.asarray(nib.load(out).dataobj)
        assert a.shape[:2] == (64, 64)
        np.testing.assert_allclose(np.squeeze(a).T, expected, rtol=1e-5, atol=1e-6)
    else:
        with h5py.File(out, "r") as f:
            assert len(list(f)) >= 1


def test_recon_to_dicom_directory(tmp_path: Path, ismrmrd_tool: Callable[..., Path]) -> None:
    p = ismrmrd_tool(tmp_path, "-m", "64", "-c", "4")
    assert main(["recon", str(p), "-o", str(tmp_path / "dicom"), "-q"]) == 0
    assert len(list((tmp_path / "dicom").glob("*.dcm"))) == 1


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recon_engine.cli", *args], capture_output=True, text=True)


def test_bad_input_exits_2_with_one_line(tmp_path: Path, ismrmrd_tool: Callable[..., Path]) -> None:
    good = ismrmrd_tool(tmp_path, "-m", "64", "-c", "4")
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(good.read_bytes()[:3000])
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    noenc = tmp_path / "noenc.h5"
    with h5py.File(good, "r") as src, h5py.File(noenc, "w") as dst:
        g = dst.create_group("dataset")
        g["xml"] = np.array(
            [b"<ismrmrdHeader><version>1</version></ismrmrdHeader>"], dtype=h5py.string_dtype()
        )
        g.create_dataset("data", data=src["dataset/data"][:2])
    empty = tmp_path / "empty.h5"
    with h5py.File(good, "r") as src, h5py.File(empty, "w") as dst:
        g = dst.create_group("dataset")
        g.create_dataset("xml", data=src["dataset/xml"][()])
        g.create_dataset("data", shape=(0,), dtype=src["dataset/data"].dtype)
    cases = {
        "truncated": (["recon", str(trunc), "-o", str(tmp_path / "a.npy")], "truncated"),
        "not ismrmrd": (["info", str(other)], "not ISMRMRD"),
        "no encoding": (["info", str(noenc)], "no <encoding>"),
        "no acquisitions": (["recon", str(empty), "-o", str(tmp_path / "b.npy")], "no imaging acquisitions"),
        "missing dir": (["recon", str(good), "-o", str(tmp_path / "nope" / "c.nii")], "does not exist"),
        "missing file": (["info", str(tmp_path / "missing.h5")], "no such file"),
        "bad extension": (["recon", str(good), "-o", str(tmp_path / "d.xyz")], ".xyz"),
    }
    for name, (args, text) in cases.items():
        r = _run(*args)
        assert r.returncode == 2, (name, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, (name, r.stderr)
        assert lines[0].startswith("mrrecon: error:") and text in lines[0], (name, lines[0])
        assert "Traceback" not in r.stderr
    assert not list(tmp_path.glob("*.npy"))  # nothing half-written


def test_cuda_request_without_gpu_is_a_clean_error(tmp_path: Path, ismrmrd_tool: Callable[..., Path]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    p = ismrmrd_tool(tmp_path, "-m", "64", "-c", "4")
    r = _run("recon", str(p), "-o", str(tmp_path / "x.npy"), "--device", "cuda")
    assert r.returncode == 2 and "no CUDA GPU" in r.stderr


def test_twix_and_pulseq_bad_input_exits_2(tmp_path: Path) -> None:
    from tests.conftest import shared_data

    se = shared_data("pulseq_mr_physics_course", "02_rf_pulses", "data")
    epi = shared_data("pulseq_mr_physics_course", "07_echo_planar_imaging", "data")
    dat = se / "meas_MID00243_FID33257_pulseq.dat"
    truncated = tmp_path / "cut.dat"
    truncated.write_bytes(dat.read_bytes()[:700_000])
    old_version = tmp_path / "v11.seq"
    text = (se / "se_2D_sinc_img.seq").read_text()
    old_version.write_text(text.replace("major 1\nminor 4", "major 1\nminor 1", 1))
    cases = {
        "seq does not match": (
            [
                "recon",
                str(dat),
                "--seq",
                str(epi / "04_03_basic_epi_96x96_pe+.seq"),
                "-o",
                str(tmp_path / "a.npy"),
            ],
            "ADC",
        ),
        "truncated twix": (["info", str(truncated)], "truncated"),
        "unsupported pulseq": (
            ["recon", str(dat), "--seq", str(old_version), "-o", str(tmp_path / "b.npy")],
            "version",
        ),
    }
    for name, (args, text_) in cases.items():
        r = _run(*args)
        assert r.returncode == 2, (name, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and text_ in lines[0], (name, r.stderr)


def test_recon_twix_with_seq_writes_the_image(tmp_path: Path) -> None:
    from tests.conftest import shared_data

    epi = shared_data("pulseq_mr_physics_course", "07_echo_planar_imaging", "data")
    name = "04_03_ramp_sampling_epi_96x96_pe+"
    out = tmp_path / "epi.nii.gz"
    r = _run("recon", str(epi / f"{name}.dat"), "--seq", str(epi / f"{name}.seq"), "-o", str(out), "-q")
    assert r.returncode == 0, r.stderr
    nii = nib.load(out)
    assert nii.shape[:2] == (96, 96)
    assert nii.header.get_zooms()[:2] == pytest.approx((220 / 96, 220 / 96), rel=1e-3)


def test_warnings_are_one_line_each() -> None:
    """A warning (here: a field of view written in metres) is one ``mrrecon: warning:`` line."""
    from tests.conftest import shared_data

    koma = shared_data("koma_simulated_mrd", "Koma_signal.mrd")
    r = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-m", "recon_engine.cli", "info", str(koma)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines and all(line.startswith("mrrecon: warning: ") for line in lines), r.stderr
    assert any("looks like metres" in line for line in lines)
    assert "Traceback" not in r.stderr and "warnings.warn" not in r.stderr


def test_warning_line_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    from recon_engine.cli import _warning_line

    _warning_line(UserWarning("two\n  lines"), UserWarning, "x.py", 3)
    assert capsys.readouterr().err == "mrrecon: warning: two lines\n"

"""``mrrecon fit``: maps to .npz and NIfTI, model options, MRF from --flip-angles/--tr, one-line errors."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from recon_engine.cli import main
from recon_engine.cli.fit import parse_option
from recon_engine.errors import ParameterError
from tests.engine.qmri._phantoms import brain_maps

TI = [50, 100, 200, 400, 800, 1600, 3200]


@pytest.fixture
def ir_npy(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    maps = brain_maps(24)
    ti = np.asarray(TI, float)[:, None, None]
    sig = np.abs(maps["pd"][None] * (1 - 2 * np.exp(-ti / maps["t1"][None]))).astype(np.float32)
    p = tmp_path / "ir.npy"
    np.save(p, sig)
    return p, maps


def test_fit_ir_to_npz(
    ir_npy: tuple[Path, dict[str, np.ndarray]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """T1 map to .npz (median error ≤ 0.1 % on noiseless data); summary line and path printed."""
    path, maps = ir_npy
    out = tmp_path / "maps.npz"
    assert main(["fit", str(path), "--model", "ir", "--times", ",".join(map(str, TI)), "-o", str(out)]) == 0
    z = np.load(out)
    inside = maps["inside"] & z["mask"]
    assert np.median(np.abs(z["t1"][inside] / maps["t1"][inside] - 1)) < 1e-3
    assert z["times"].tolist() == TI
    printed = capsys.readouterr().out
    assert "median t1" in printed and str(out) in printed


def test_fit_t2_offset_to_nifti(tmp_path: Path) -> None:
    """NIfTI input and output directory; -O offset=true adds the offset map."""
    maps = brain_maps(16)
    te = np.array([5.0, 10.0, 20.0, 40.0, 80.0, 120.0])
    sig = maps["pd"][None] * np.exp(-te[:, None, None] / maps["t2"][None]) + 0.02
    vol = np.transpose(sig, (2, 1, 0))[:, :, None, :].astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.diag([2.0, 2.0, 4.0, 1.0])), tmp_path / "t2.nii.gz")
    out = tmp_path / "maps"
    argv = [
        "fit",
        str(tmp_path / "t2.nii.gz"),
        "--model",
        "t2",
        "--times",
        "5,10,20,40,80,120",
        "-O",
        "offset=true",
    ]
    assert main([*argv, "-q", "-o", str(out)]) == 0
    assert {"t2.nii.gz", "m0.nii.gz", "offset.nii.gz", "r2.nii.gz"} <= {p.name for p in out.iterdir()}
    img = nib.load(out / "t2.nii.gz")
    np.testing.assert_array_equal(img.affine, np.diag([2.0, 2.0, 4.0, 1.0]))
    t2 = np.asarray(img.dataobj)[:, :, 0].T
    inside = maps["inside"] & np.isfinite(t2)
    assert np.median(np.abs(t2[inside] / maps["t2"][inside] - 1)) < 1e-3


def test_fit_vfa_with_b1_and_mrf(tmp_path: Path) -> None:
    """VFA with --flip-angles/--tr/--b1, and MRF whose schedule comes from --flip-angles + --tr."""
    maps = brain_maps(12)
    fa = np.array([3.0, 8.0, 15.0, 25.0])
    e1 = np.exp(-15.0 / maps["t1"])
    a = np.radians(fa)[:, None, None] * 0.9
    sig = maps["pd"][None] * np.sin(a) * (1 - e1) / (1 - e1 * np.cos(a))
    np.save(tmp_path / "vfa.npy", sig.astype(np.float32))
    np.save(tmp_path / "b1.npy", np.full((12, 12), 0.9))
    argv = ["fit", str(tmp_path / "vfa.npy"), "--model", "vfa", "--flip-angles", "3,8,15,25", "--tr", "15"]
    assert main([*argv, "--b1", str(tmp_path / "b1.npy"), "-q", "-o", str(tmp_path / "vfa.npz")]) == 0
    z = np.load(tmp_path / "vfa.npz")
    inside = maps["inside"] & z["mask"]
    assert np.median(np.abs(z["t1"][inside] / maps["t1"][inside] - 1)) < 1e-3

    from recon_engine.qmri.epg import epg_fisp

    sched = 10 + 40 * np.abs(np.sin(np.arange(60) / 10.0))
    sig = epg_fisp(np.float64(900.0), np.float64(80.0), flip_angles=sched, tr=10.0).numpy()
    np.save(tmp_path / "mrf.npy", np.broadcast_to(sig[:, None, None], (60, 4, 4)).astype(np.float32))
    argv = [
        "fit",
        str(tmp_path / "mrf.npy"),
        "--model",
        "mrf",
        "--flip-angles",
        ",".join(f"{v:.6f}" for v in sched),
    ]
    grid = ["-O", "t1_grid=600,900,1200", "-O", "t2_grid=40,80,160", "-O", "n_states=none"]
    assert main([*argv, "--tr", "10", *grid, "-q", "-o", str(tmp_path / "mrf.npz")]) == 0
    z = np.load(tmp_path / "mrf.npz")
    assert np.all(z["t1"] == 900.0) and np.all(z["t2"] == 80.0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "t9", "--times", "1,2,3,4,5,6,7"], "unknown qMRI model"),
        (["--model", "ir", "--times", "1,2,3"], "3 TI times"),
        (["--model", "ir", "--times", "0,100,200,400,800,1600,3200"], "positive"),
        (["--model", "ir"], "needs the TI"),
        (["--model", "ir", "--times", "1,2,3,4,5,6,7", "-O", "bogus=1"], "no option bogus"),
        (["--model", "ir", "--times", "1,2,x"], "comma-separated"),
        (["--model", "ir", "--times", "1,2,3,4,5,6,7", "--mask-threshold", "abc"], "mask-threshold"),
    ],
)
def test_bad_input_one_line_exit_2(
    ir_npy: tuple[Path, dict[str, np.ndarray]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    path, _ = ir_npy
    assert main(["fit", str(path), *extra, "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and err.startswith("mrrecon: error:")
    assert not (tmp_path / "x.npz").exists()


def test_missing_input_and_bad_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(tmp_path / "none.npy"), "--model", "t2", "-o", str(tmp_path / "x.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_parse_option() -> None:
    assert parse_option("offset=true") == ("offset", True)
    assert parse_option("t1=1200") == ("t1", 1200.0)
    assert parse_option("t1_grid=1,2") == ("t1_grid", [1.0, 2.0])
    assert parse_option("signed=none") == ("signed", None)
    with pytest.raises(ParameterError):
        parse_option("novalue")

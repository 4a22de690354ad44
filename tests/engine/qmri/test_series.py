"""Series loading (.npy, NIfTI), map writing (.npz, NIfTI) and ROI statistics."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from recon_engine.errors import DataError, FileFormatError, ParameterError
from recon_engine.qmri import fit, load_series, roi_statistics, write_maps
from tests.engine.qmri._phantoms import brain_maps

TE = np.array([10.0, 30.0, 60.0, 100.0, 150.0])


def _series(n: int = 16) -> np.ndarray:
    maps = brain_maps(n)
    return (maps["pd"][None] * np.exp(-TE[:, None, None] / maps["t2"][None])).astype(np.float32)


def test_load_npy_with_times(tmp_path: Path) -> None:
    """A contrast-first .npy is read as float32; times parse from text or sequences."""
    p = tmp_path / "s.npy"
    np.save(p, _series().astype(np.float64))
    s = load_series(p, times="10, 30,60,100,150")
    assert s.data.dtype == np.float32 and s.data.shape == (5, 16, 16)
    np.testing.assert_array_equal(s.times, TE)
    assert s.n == 5 and s.spatial_shape == (16, 16)
    assert load_series(p).times is None
    with pytest.raises(ParameterError, match="comma-separated"):
        load_series(p, times="10,abc")


def test_load_nifti_4d(tmp_path: Path) -> None:
    """NIfTI (x, y, z, t) becomes (t, [z,] y, x); the affine is kept."""
    data = _series()  # (t, y, x)
    affine = np.diag([2.0, 2.0, 5.0, 1.0])
    vol = np.transpose(data, (2, 1, 0))[:, :, None, :]  # (x, y, 1, t)
    nib.save(nib.Nifti1Image(vol, affine), tmp_path / "s.nii.gz")
    s = load_series(tmp_path / "s.nii.gz", times=TE)
    np.testing.assert_allclose(s.data, data, rtol=1e-6)
    np.testing.assert_array_equal(s.affine, affine)
    nib.save(nib.Nifti1Image(vol[..., 0], affine), tmp_path / "three_d.nii")
    with pytest.raises(DataError, match="4th"):
        load_series(tmp_path / "three_d.nii")


def test_load_errors(tmp_path: Path) -> None:
    """Missing file, unknown suffix, corrupt .npy and wrong dimensionality: clear errors."""
    with pytest.raises(FileFormatError, match="does not exist"):
        load_series(tmp_path / "missing.npy")
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(FileFormatError, match="unknown series format"):
        load_series(tmp_path / "x.txt")
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(FileFormatError, match="readable"):
        load_series(tmp_path / "bad.npy")
    np.save(tmp_path / "flat.npy", np.ones((5, 16)))
    with pytest.raises(DataError, match="contrast axis first"):
        load_series(tmp_path / "flat.npy")


def test_write_npz_and_nifti(tmp_path: Path) -> None:
    """write_maps: .npz with every map, sd_*, mask and times; a NIfTI directory with one file per map."""
    res = fit(_series(), "t2", times=TE, device="cpu")
    (out,) = write_maps(res, tmp_path / "maps.npz")
    z = np.load(out)
    assert {"t2", "m0", "r2", "residual", "sd_t2", "mask", "times", "model"} <= set(z.files)
    np.testing.assert_array_equal(z["t2"], res.maps["t2"])
    np.testing.assert_array_equal(z["times"], TE)
    affine = np.diag([1.5, 1.5, 3.0, 1.0])
    files = write_maps(res, tmp_path / "nifti", affine=affine)
    names = {f.name for f in files}
    assert {"t2.nii.gz", "m0.nii.gz", "r2.nii.gz", "residual.nii.gz", "sd_t2.nii.gz"} <= names
    img = nib.load(tmp_path / "nifti" / "t2.nii.gz")
    np.testing.assert_array_equal(img.affine, affine)
    np.testing.assert_allclose(np.asarray(img.dataobj)[:, :, 0].T, res.maps["t2"], equal_nan=True)
    write_maps(res, tmp_path / "nifti")  # rewriting its own output is allowed
    assert not list(tmp_path.glob(".tmp-*"))


def test_roi_statistics() -> None:
    """Mean/SD/median/N per label and map, NaN ignored, background (0) skipped."""
    t1 = np.arange(16, dtype=np.float32).reshape(4, 4)
    t1[0, 1] = np.nan
    labels = np.zeros((4, 4), int)
    labels[0, :] = 1
    labels[2:, 2:] = 2
    rows = roi_statistics({"t1": t1, "r2": np.ones((4, 4))}, labels, units={"t1": "ms"})
    assert [(r["label"], r["map"]) for r in rows] == [(1, "t1"), (1, "r2"), (2, "t1"), (2, "r2")]
    r1 = rows[0]
    assert r1["n"] == 3 and r1["unit"] == "ms"
    assert r1["mean"] == pytest.approx(np.mean([0, 2, 3])) and r1["median"] == 2.0
    assert r1["sd"] == pytest.approx(np.std([0, 2, 3], ddof=1))
    assert rows[2]["mean"] == pytest.approx(np.mean([10, 11, 14, 15]))
    with pytest.raises(DataError, match="labels"):
        roi_statistics({"t1": t1}, np.zeros((3, 3), int))

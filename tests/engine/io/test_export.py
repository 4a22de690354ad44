"""Exports (NIfTI, DICOM, .npy, ISMRMRD images) read back with the right shape, spacing and orientation."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch

from recon_engine.data.geometry import Geometry
from recon_engine.data.header import parse_header
from recon_engine.data.image import ImageData
from recon_engine.errors import ExportError, FileFormatError
from recon_engine.io._atomic import atomic_directory, atomic_file
from recon_engine.io.dicom import read_dicom_series, write_dicom_series
from recon_engine.io.export import save
from recon_engine.io.ismrmrd_images import find_image_groups, read_ismrmrd_images, write_ismrmrd_images
from recon_engine.io.nifti import read_nifti, write_nifti
from recon_engine.io.npy import write_npy
from tests.conftest import SHARED_DATA

SEED = 20240611
NX, NY = 24, 21  # odd NY: the FOV centre sits at voxel N // 2
DX, DY, THICK, GAP = 1.5, 2.0, 3.0, 4.0  # mm; slice centres are GAP apart
N_SLICES = 5
POSITION = np.array([12.5, -30.25, 41.0])
UINT16_HALF_STEP = 1.0 / (2 * 65535)

HEADER_XML = """<?xml version="1.0"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
  <acquisitionSystemInformation><systemFieldStrength_T>2.89</systemFieldStrength_T></acquisitionSystemInformation>
  <experimentalConditions><H1resonanceFrequency_Hz>123200000</H1resonanceFrequency_Hz></experimentalConditions>
  <encoding>
    <encodedSpace><matrixSize><x>24</x><y>21</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>36</x><y>42</y><z>3</z></fieldOfView_mm></encodedSpace>
    <reconSpace><matrixSize><x>24</x><y>21</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>36</x><y>42</y><z>3</z></fieldOfView_mm></reconSpace>
    <trajectory>cartesian</trajectory>
  </encoding>
  <sequenceParameters><TR>7.5</TR><TE>2.1</TE><TE>4.2</TE><TI>300</TI><flipAngle_deg>12</flipAngle_deg>
  </sequenceParameters>
</ismrmrdHeader>"""


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 2] *= -1
    return q  # columns: read, phase, slice (right-handed)


def _image(
    other: tuple[tuple[str, int], ...] = (("slice", N_SLICES),),
    nz: int = 1,
    dz: float = THICK,
    slice_order: list[int] | None = None,
) -> ImageData:
    rng = np.random.default_rng(SEED)
    rot = _rotation(rng)
    shape = (*(n for _, n in other), 1, nz, NY, NX)
    data = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
    geom = Geometry.from_vectors(
        (NX, NY, nz), (NX * DX, NY * DY, nz * dz), POSITION, rot[:, 0], rot[:, 1], rot[:, 2]
    )
    names = tuple(n for n, _ in other)
    if "slice" in names:
        n_s = dict(other)["slice"]
        order = slice_order if slice_order is not None else list(range(n_s))
        offsets = (np.asarray(order, dtype=np.float64) - (n_s - 1) / 2) * GAP
        geom = geom.with_slices(POSITION + offsets[:, None] * geom.slice_dir[None, :])
    return ImageData(torch.from_numpy(data), geom, names, parse_header(HEADER_XML))


def _expected_ras(g: Geometry, origin_lps: np.ndarray, z_step: np.ndarray) -> np.ndarray:
    a = np.eye(4)
    a[:3, 0] = g.read_dir * DX
    a[:3, 1] = g.phase_dir * DY
    a[:3, 2] = z_step
    a[:3, 3] = origin_lps
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ a


def _corner(g: Geometry, centre: np.ndarray) -> np.ndarray:
    return centre - (NX // 2) * DX * g.read_dir - (NY // 2) * DY * g.phase_dir


# ---------------------------------------------------------------- NIfTI


def test_nifti_multislice_affine_and_phase(tmp_path: Path) -> None:
    image = _image()
    before = image.numpy().copy()
    files = write_nifti(image, tmp_path / "ms.nii.gz", phase=True)
    assert [f.name for f in files] == ["ms.nii.gz", "ms_phase.nii.gz"]
    nii = nib.load(files[0])
    g = image.geometry
    assert nii.shape == (NX, NY, N_SLICES)
    np.testing.assert_allclose(nii.header.get_zooms(), (DX, DY, GAP), rtol=1e-6)
    expected = _expected_ras(g, _corner(g, g.slice_positions_mm[0]), GAP * g.slice_dir)
    np.testing.assert_allclose(nii.affine, expected, atol=1e-4)
    np.testing.assert_allclose(nii.get_qform(), expected, atol=1e-4)
    assert int(nii.header["sform_code"]) == 1
    assert int(nii.header["qform_code"]) == 1
    assert nii.header.get_xyzt_units()[0] == "mm"
    mag, _ = read_nifti(files[0])
    np.testing.assert_allclose(mag, np.abs(before[:, 0, 0]).transpose(2, 1, 0), rtol=1e-6)
    ph, affine = read_nifti(files[1])
    assert ph.min() >= -np.pi
    assert ph.max() <= np.pi
    np.testing.assert_allclose(ph, np.angle(before[:, 0, 0]).transpose(2, 1, 0), atol=1e-6)
    np.testing.assert_allclose(affine, expected, atol=1e-4)
    np.testing.assert_array_equal(image.numpy(), before)  # input untouched


def test_nifti_3d_affine_equals_geometry(tmp_path: Path) -> None:
    image = _image(other=(), nz=10, dz=2.5)
    g = image.geometry
    (f,) = write_nifti(image, tmp_path / "vol.nii")
    nii = nib.load(f)
    assert nii.shape == (NX, NY, 10)
    np.testing.assert_allclose(nii.header.get_zooms(), (DX, DY, 2.5), rtol=1e-6)
    expected = _expected_ras(g, _corner(g, g.position_mm) - (10 // 2) * 2.5 * g.slice_dir, 2.5 * g.slice_dir)
    np.testing.assert_allclose(nii.affine, expected, atol=1e-4)
    np.testing.assert_allclose(g.affine_ras(), expected, atol=1e-9)
    # the FOV centre (voxel N // 2) maps to the geometry position in RAS
    centre = nii.affine @ np.array([NX // 2, NY // 2, 10 // 2, 1.0])
    np.testing.assert_allclose(centre[:3], POSITION * [-1, -1, 1], atol=1e-4)


def test_nifti_sorts_slices_and_flattens_volumes(tmp_path: Path) -> None:
    order = [2, 0, 4, 1, 3]  # slice index -> spatial rank (interleaved acquisition)
    image = _image(other=(("contrast", 2), ("slice", N_SLICES)), slice_order=order)
    (f,) = write_nifti(image, tmp_path / "c.nii")
    data, affine = read_nifti(f)
    assert data.shape == (NX, NY, N_SLICES, 2)
    mag = np.abs(image.numpy())[:, :, 0, 0]  # (contrast, slice, y, x)
    for rank, s in enumerate(np.argsort(order)):
        np.testing.assert_allclose(data[:, :, rank, 1], mag[1, s].T, rtol=1e-6)
    g = image.geometry
    lowest = g.slice_positions_mm[int(np.argmin(order))]
    np.testing.assert_allclose(affine, _expected_ras(g, _corner(g, lowest), GAP * g.slice_dir), atol=1e-4)


def test_nifti_irregular_slices_rejected(tmp_path: Path) -> None:
    image = _image()
    pos = image.geometry.slice_positions_mm.copy()
    pos[-1] += image.geometry.slice_dir * 1.0
    bad = ImageData(image.data, image.geometry.with_slices(pos), image.other_axes)
    with pytest.raises(ExportError, match="not equally spaced"):
        write_nifti(bad, tmp_path / "bad.nii")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- DICOM


def test_dicom_multislice_tags_and_pixels(tmp_path: Path) -> None:
    image = _image()
    g = image.geometry
    files = write_dicom_series(image, tmp_path / "dcm", series_description="test series")
    assert len(files) == N_SLICES
    assert sorted(p.name for p in (tmp_path / "dcm").iterdir()) == [p.name for p in files]
    mag = np.abs(image.numpy())[:, 0, 0]
    vmax = float(mag.max())
    rel_err = 0.0
    uids = set()
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.Modality == "MR"
        assert ds.SeriesDescription == "test series"
        assert (ds.Rows, ds.Columns) == (NY, NX)
        assert ds.InstanceNumber == k + 1
        np.testing.assert_allclose(
            [float(v) for v in ds.ImageOrientationPatient], np.r_[g.read_dir, g.phase_dir], atol=1e-9
        )
        np.testing.assert_allclose([float(v) for v in ds.PixelSpacing], [DY, DX])
        assert float(ds.SliceThickness) == pytest.approx(THICK)
        assert float(ds.SpacingBetweenSlices) == pytest.approx(GAP)
        np.testing.assert_allclose(
            [float(v) for v in ds.ImagePositionPatient], _corner(g, g.slice_positions_mm[k]), atol=1e-6
        )
        assert float(ds.SliceLocation) == pytest.approx(
            float(g.slice_positions_mm[k] @ g.slice_dir), abs=1e-6
        )
        assert float(ds.EchoTime) == pytest.approx(2.1)
        assert float(ds.RepetitionTime) == pytest.approx(7.5)
        assert float(ds.InversionTime) == pytest.approx(300)
        assert float(ds.FlipAngle) == pytest.approx(12)
        assert float(ds.MagneticFieldStrength) == pytest.approx(2.89)
        uids.add((ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID))
        assert ds.pixel_array.dtype == np.uint16
        values = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        rel_err = max(rel_err, float(np.abs(values - mag[k]).max()) / vmax)
    assert len(uids) == 1
    assert rel_err <= UINT16_HALF_STEP * 1.001, rel_err


def test_dicom_read_back_geometry(tmp_path: Path) -> None:
    image = _image(slice_order=[4, 3, 2, 1, 0])  # slices stored against the normal
    write_dicom_series(image, tmp_path / "dcm")
    data, geom = read_dicom_series(tmp_path / "dcm")
    g = image.geometry
    assert data.shape == (N_SLICES, NY, NX)
    mag = np.abs(image.numpy())[::-1, 0, 0]
    assert float(np.abs(data - mag).max()) <= mag.max() * UINT16_HALF_STEP * 1.001
    assert geom.matrix == (NX, NY, N_SLICES)
    np.testing.assert_allclose(geom.voxel_size_mm, (DX, DY, GAP), rtol=1e-9)
    np.testing.assert_allclose(geom.read_dir, g.read_dir, atol=1e-9)
    np.testing.assert_allclose(geom.phase_dir, g.phase_dir, atol=1e-9)
    np.testing.assert_allclose(geom.slice_dir, g.slice_dir, atol=1e-9)
    np.testing.assert_allclose(geom.position_mm, POSITION, atol=1e-6)


def test_dicom_3d_and_volumes(tmp_path: Path) -> None:
    image = _image(other=(("contrast", 2),), nz=6, dz=2.5)
    g = image.geometry
    files = write_dicom_series(image, tmp_path / "vol")
    assert len(files) == 12
    second = pydicom.dcmread(files[6 + 3])  # contrast 1, partition 3
    assert second.MRAcquisitionType == "3D"
    assert float(second.EchoTime) == pytest.approx(4.2)
    assert int(second.TemporalPositionIdentifier) == 2
    expected = _corner(g, g.position_mm) + (3 - 6 // 2) * 2.5 * g.slice_dir
    np.testing.assert_allclose([float(v) for v in second.ImagePositionPatient], expected, atol=1e-6)
    data, geom = read_dicom_series(tmp_path / "vol")
    assert data.shape == (2, 6, NY, NX)
    mag = np.abs(image.numpy())[:, 0]
    assert float(np.abs(data - mag).max()) <= mag.max() * UINT16_HALF_STEP * 1.001
    np.testing.assert_allclose(geom.affine_lps(), g.affine_lps(), atol=1e-6)


def test_dicom_directory_rules(tmp_path: Path) -> None:
    image = _image(other=())
    out = tmp_path / "series"
    write_dicom_series(image, out)
    with pytest.raises(ExportError, match="not empty"):
        write_dicom_series(image, out)
    assert len(write_dicom_series(image, out, overwrite=True)) == 1
    assert len(list(out.iterdir())) == 1
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="refusing"):
        write_dicom_series(image, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(save(image, empty)) == 1


def test_read_dicom_errors(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="does not exist"):
        read_dicom_series(tmp_path / "nothing")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(FileFormatError, match="no DICOM"):
        read_dicom_series(tmp_path)


# ---------------------------------------------------------------- npy and ISMRMRD


def test_npy_round_trip_bit_exact(tmp_path: Path) -> None:
    image = _image(other=())
    (f,) = save(image, tmp_path / "img.npy")
    back = np.load(f)
    assert back.dtype == np.complex64
    assert back.shape == (NY, NX)
    np.testing.assert_array_equal(back, image.numpy()[0, 0])
    (f5,) = write_npy(_image(), tmp_path / "ms.npy")
    assert np.load(f5).shape == (N_SLICES, NY, NX)


def test_ismrmrd_images_round_trip(tmp_path: Path) -> None:
    image = _image(other=(("contrast", 2), ("slice", N_SLICES)), slice_order=[2, 0, 4, 1, 3])
    (f,) = write_ismrmrd_images(image, tmp_path / "img.h5")
    assert find_image_groups(f) == ["dataset/images"]
    with h5py.File(f, "r") as h:
        heads = h["dataset/images/header"][()]
        assert h["dataset/images/data"].shape == (2 * N_SLICES, 1, 1, NY, NX)
    assert list(heads["image_type"]) == [5] * 10
    assert list(heads["slice"][:N_SLICES]) == list(range(N_SLICES))
    assert list(heads["contrast"][N_SLICES:]) == [1] * N_SLICES
    back = read_ismrmrd_images(f)
    assert back.other_axes == ("contrast", "slice")
    np.testing.assert_array_equal(back.numpy(), image.numpy())
    g, b = image.geometry, back.geometry
    assert b.matrix == g.matrix
    np.testing.assert_allclose(b.fov_mm, g.fov_mm, rtol=1e-6)
    np.testing.assert_allclose(b.position_mm, g.position_mm, atol=1e-12)
    for attr in ("read_dir", "phase_dir", "slice_dir"):
        np.testing.assert_allclose(getattr(b, attr), getattr(g, attr), atol=1e-6)
    np.testing.assert_allclose(b.slice_positions_mm, g.slice_positions_mm, atol=1e-4)
    assert back.header is not None
    assert back.header.te_ms == (2.1, 4.2)
    with pytest.raises(ExportError, match="already exists"):
        write_ismrmrd_images(image, f)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.tools
@pytest.mark.skipif(shutil.which("ismrmrd_recon_cartesian_2d") is None, reason="ISMRMRD tools not installed")
def test_read_cpp_group_of_official_tool(tmp_path: Path) -> None:
    f = tmp_path / "sl.h5"
    subprocess.run(
        ["ismrmrd_generate_cartesian_shepp_logan", "-m", "64", "-o", str(f)], check=True, capture_output=True
    )
    subprocess.run(["ismrmrd_recon_cartesian_2d", str(f)], check=True, capture_output=True)
    assert find_image_groups(f) == ["dataset/cpp"]
    digest = _sha(f)
    img = read_ismrmrd_images(f)
    assert img.geometry.orientation_assumed  # the tool stores zero direction vectors
    assert _sha(f) == digest  # read-only
    assert img.shape == (1, 1, 64, 64)
    assert img.other_axes == ()
    assert img.geometry.fov_mm == (300.0, 300.0, 6.0)
    assert float(img.magnitude().max()) > 0
    with h5py.File(f, "r") as h:
        np.testing.assert_array_equal(img.numpy().real, h["dataset/cpp/data"][0])
    with pytest.raises(FileFormatError, match="available: dataset/cpp"):
        read_ismrmrd_images(f, group="nope")


JEMRIS = SHARED_DATA / "jemris_spiral_ismrmrd_sim/reco_spiralout_clean_slc30.h5"


@pytest.mark.skipif(not JEMRIS.is_file(), reason="shared JEMRIS data not available")
def test_read_jemris_image_groups() -> None:
    groups = find_image_groups(JEMRIS)
    assert groups == [f"images/image_{i}" for i in range(1, 5)]
    img = read_ismrmrd_images(JEMRIS, group="image_2")
    assert img.meta["fov_assumed"] is True
    assert img.geometry.voxel_size_mm == (1.0, 1.0, 1.0)
    assert img.shape == (1, 1, 220, 220)
    assert img.meta["group"] == "images/image_2"


def test_read_ismrmrd_errors(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="does not exist"):
        read_ismrmrd_images(tmp_path / "none.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(FileFormatError, match="not an HDF5"):
        read_ismrmrd_images(tmp_path / "text.h5")
    with h5py.File(tmp_path / "empty.h5", "w") as h:
        h.create_group("dataset")
    with pytest.raises(FileFormatError, match="no ISMRMRD image group"):
        read_ismrmrd_images(tmp_path / "empty.h5")


# ---------------------------------------------------------------- save() and failures


@pytest.mark.parametrize("name", ["a.npy", "a.nii", "a.nii.gz", "a.h5", "a.mrd", "dicom_dir"])
def test_missing_output_directory(tmp_path: Path, name: str) -> None:
    target = tmp_path / "missing" / name
    with pytest.raises(ExportError, match=f"output directory {tmp_path / 'missing'} does not exist"):
        save(_image(), target)
    assert not (tmp_path / "missing").exists()


def test_save_dispatch_and_errors(tmp_path: Path) -> None:
    image = _image()
    assert save(image, tmp_path / "x.mrd")[0].suffix == ".mrd"
    assert len(save(image, tmp_path / "series")) == N_SLICES
    assert [p.name for p in save(image, tmp_path / "x.nii", phase=True)] == ["x.nii", "x_phase.nii"]
    with pytest.raises(ExportError, match=r"supported: \.npy, \.nii"):
        save(image, tmp_path / "x.png")
    with pytest.raises(ExportError, match="directory"):
        save(image, tmp_path / "x.dcm")
    with pytest.raises(ExportError, match="already exists"):
        save(image, tmp_path / "x.nii", overwrite=False)
    data = image.data.clone()
    data[0, 0, 0, 3, 4] = float("nan")
    with pytest.raises(ExportError, match="NaN"):
        save(ImageData(data, image.geometry, image.other_axes), tmp_path / "nan.npy")
    assert not (tmp_path / "nan.npy").exists()


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = _image()
    (tmp_path / "keep.nii").write_bytes(b"old")

    def broken_save(img: object, filename: Path) -> None:
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_nifti(image, tmp_path / "keep.nii", phase=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.nii"]
    assert (tmp_path / "keep.nii").read_bytes() == b"old"

    calls = {"n": 0}
    original = pydicom.dataset.FileDataset.save_as

    def flaky(self: pydicom.dataset.FileDataset, filename: Path, **kw: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        original(self, filename, **kw)

    monkeypatch.setattr(pydicom.dataset.FileDataset, "save_as", flaky)
    with pytest.raises(OSError, match="disk full"):
        write_dicom_series(image, tmp_path / "dcm")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.nii"]


def test_atomic_helpers(tmp_path: Path) -> None:
    target = tmp_path / "scan.nii.gz"
    with atomic_file(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.endswith(".nii.gz")
        tmp.write_bytes(b"ok")
    assert target.read_bytes() == b"ok"
    with pytest.raises(ExportError, match="already exists"), atomic_file(target, overwrite=False):
        pass
    with pytest.raises(ExportError, match="it is a directory"), atomic_file(tmp_path):
        pass
    with pytest.raises(ExportError, match="is a file"), atomic_directory(target):
        pass

    def fill_then_fail() -> None:
        with atomic_directory(tmp_path / "d") as d:
            (d / "a.dcm").write_bytes(b"x")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fill_then_fail()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.nii.gz"]

"""Times from file metadata: DICOM tags (one series per TI), ISMRMRD image headers, raw data, ImageData."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from recon_engine.errors import DataError
from recon_engine.qmri import fit, load_series, series_from_image
from tests.engine.qmri._phantoms import brain_maps

TI = [800.0, 100.0, 2400.0, 300.0]  # deliberately unsorted on disk


def _ir_images(n: int = 24) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    maps = brain_maps(n)
    ti = np.asarray(TI)[:, None, None]
    return np.abs(maps["pd"][None] * (1 - 2 * np.exp(-ti / maps["t1"][None]))), maps


def _write_dicom(directory: Path, images: np.ndarray) -> None:
    """One file (and one series) per TI, as scanners store IR series; 12-bit ints with a slope."""
    for i, (ti, img) in enumerate(zip(TI, images, strict=True)):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = generate_uid()
        ds.Modality = "MR"
        ds.InstanceNumber = i + 1
        ds.InversionTime, ds.EchoTime, ds.RepetitionTime, ds.FlipAngle = ti, 12.0, 10000.0, 90.0
        ds.ImagePositionPatient = [-100.0, -80.0, 12.5]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [2.0, 1.5]
        ds.SliceThickness = 5.0
        ds.Rows, ds.Columns = img.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleSlope, ds.RescaleIntercept = 1 / 4000, 0.0
        ds.PixelData = np.round(img * 4000).astype(np.uint16).tobytes()
        ds.save_as(directory / f"im{i}.dcm", enforce_file_format=True)


def test_dicom_directory_with_inversion_times(tmp_path: Path) -> None:
    """Files grouped and sorted by InversionTime; TR from the tags; affine from position/spacing."""
    images, maps = _ir_images()
    _write_dicom(tmp_path, images)
    s = load_series(tmp_path)
    order = np.argsort(TI)
    np.testing.assert_array_equal(s.times, np.sort(TI))
    np.testing.assert_allclose(s.data, images[order], atol=1.5e-4)
    assert s.tr == 10000.0 and s.data.shape == (4, 24, 24)
    assert s.affine is not None and np.allclose(np.diag(s.affine)[:2], [-1.5, -2.0])
    res = fit(s, "ir", device="cpu")
    inside = maps["inside"] & res.mask
    assert np.median(np.abs(res.maps["t1"][inside] / maps["t1"][inside] - 1)) < 0.01
    assert load_series(tmp_path, times=[1, 2, 3, 4]).times.tolist() == [1, 2, 3, 4]  # explicit wins


def _image_with_header(images: np.ndarray, tmp_path: Path) -> object:
    from recon_engine.api import reconstruct
    from recon_engine.data.image import ImageData
    from recon_engine.simulate.acquire import simulate_cartesian
    from recon_engine.simulate.coils import birdcage_sensitivities

    n = images.shape[-1]
    ks = simulate_cartesian(
        images[0][None], birdcage_sensitivities(2, (1, n, n)), noise_std=1e-3, ti_ms=TI, tr_ms=[9000.0]
    )
    single = reconstruct(ks, device="cpu")
    data = torch.as_tensor(images[:, None, None].astype(np.complex64))  # (contrast, coils=1, z=1, y, x)
    return ImageData(data=data, geometry=single.geometry, other_axes=("contrast",), header=single.header)


def test_ismrmrd_image_file_and_image_data(tmp_path: Path) -> None:
    """ISMRMRD images: times from the header's TI list (in file order); series_from_image likewise."""
    from recon_engine.io.ismrmrd_images import write_ismrmrd_images

    images, maps = _ir_images(16)
    image = _image_with_header(images, tmp_path)
    s1 = series_from_image(image)  # type: ignore[arg-type]
    assert s1.times is not None and s1.times.tolist() == TI and s1.tr == 9000.0
    assert s1.data.shape == (4, 16, 16) and s1.data.dtype == np.complex64
    write_ismrmrd_images(image, tmp_path / "ir.h5")  # type: ignore[arg-type]
    s2 = load_series(tmp_path / "ir.h5")
    assert s2.times is not None and s2.times.tolist() == TI
    np.testing.assert_allclose(np.abs(s2.data), images, atol=1e-5)
    res = fit(s2, "ir", device="cpu")
    inside = maps["inside"] & res.mask
    assert np.median(np.abs(res.maps["t1"][inside] / maps["t1"][inside] - 1)) < 0.01


def test_image_with_two_long_axes_is_rejected(tmp_path: Path) -> None:
    images, _ = _ir_images(8)
    image = _image_with_header(images, tmp_path)
    two = dataclasses.replace(
        image,  # type: ignore[type-var]
        data=image.data[:, None].expand(4, 2, 1, 1, 8, 8),  # type: ignore[attr-defined]
        other_axes=("contrast", "repetition"),
    )
    with pytest.raises(DataError, match="several non-singleton"):
        series_from_image(two)


def test_ismrmrd_raw_file_is_reconstructed(tmp_path: Path) -> None:
    """A raw ISMRMRD file is reconstructed (direct) into a series; its header TR/TI are kept."""
    from recon_engine.io.ismrmrd_write import write_ismrmrd
    from recon_engine.simulate.acquire import simulate_cartesian
    from recon_engine.simulate.coils import birdcage_sensitivities

    images, _ = _ir_images(16)
    ks = simulate_cartesian(
        images[0][None], birdcage_sensitivities(2, (1, 16, 16)), noise_std=1e-3, tr_ms=[9000.0]
    )
    write_ismrmrd(ks, tmp_path / "raw.h5")
    s = load_series(tmp_path / "raw.h5")
    assert s.data.shape == (1, 16, 16) and s.tr == 9000.0
    img = np.abs(s.data[0])
    assert np.corrcoef(img.ravel(), images[0].ravel())[0, 1] > 0.95

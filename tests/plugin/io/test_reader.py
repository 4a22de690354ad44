"""Reader: claims real ISMRMRD only; k-space layer with coils as an axis; complex data in the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import recon_engine
from napari_mrrecon.io.reader import get_reader, read_layers
from napari_mrrecon.model.entries import raw_of, result_of
from tests.plugin._helpers import PLUGIN


@pytest.mark.parametrize("kind", ["plain_hdf5", "text", "truncated", "wrong_extension"])
def test_reader_declines_non_ismrmrd(plugin_files: dict[str, Path], kind: str) -> None:
    assert get_reader(str(plugin_files[kind])) is None


def test_reader_declines_missing_file_and_odd_input(tmp_path: Path) -> None:
    assert get_reader(str(tmp_path / "missing.h5")) is None
    assert get_reader(str(tmp_path)) is None  # a directory
    assert get_reader([]) is None


def test_reader_claims_ismrmrd(raw_path: Path) -> None:
    assert get_reader(str(raw_path)) is read_layers
    assert get_reader([str(raw_path), str(raw_path)]) is read_layers


def test_open_raw_adds_kspace_layer_and_keeps_complex(viewer: Any, raw_path: Path) -> None:
    layers = viewer.open(str(raw_path), plugin=PLUGIN)
    assert len(layers) == 1
    layer = layers[0]
    expected = recon_engine.read(raw_path)
    dataset = raw_of(layer)
    assert dataset is not None
    assert dataset.kspace.data.dtype == torch.complex64
    assert torch.equal(dataset.kspace.data, expected.data)
    assert layer.data.dtype == np.float32
    assert layer.data.shape == tuple(expected.data.shape)  # (coils, k2, k1, k0)
    assert tuple(layer.axis_labels)[-4:] == ("coil", "k2", "k1", "k0")
    assert layer.data.shape[-4] == 8
    # log-magnitude: unsampled lines of the R = 2 data stay exactly 0, sampled ones are positive
    lines = expected.sampling_mask.numpy()[0]  # (k2, k1) -> the k1 lines of the one partition
    assert 0 < lines.sum() < lines.size
    assert np.all(layer.data[:, 0, ~lines, :] == 0)
    assert np.all(layer.data[:, 0, lines, :].max(axis=-1) > 0)


def test_engine_error_becomes_notification(
    viewer: Any, plugin_files: dict[str, Path], errors: list[str]
) -> None:
    path = plugin_files["no_acquisitions"]
    assert get_reader(str(path)) is read_layers  # structurally ISMRMRD
    layers = viewer.open(str(path), plugin=PLUGIN)
    assert list(layers) == []
    assert len(viewer.layers) == 0
    assert any("no_acquisitions.h5" in m and "no imaging acquisitions" in m for m in errors), errors


def test_ismrmrd_images_open_as_result(viewer: Any, raw_path: Path, tmp_path: Path) -> None:
    image = recon_engine.reconstruct(recon_engine.read(raw_path), device="cpu")
    out = tmp_path / "images.h5"
    recon_engine.save(image, out)
    assert get_reader(str(out)) is read_layers
    (layer,) = viewer.open(str(out), plugin=PLUGIN)
    result = result_of(layer)
    assert result is not None
    np.testing.assert_allclose(np.squeeze(result.image.numpy()), np.squeeze(image.numpy()), rtol=1e-5)
    np.testing.assert_allclose(np.squeeze(layer.data), np.squeeze(image.magnitude()), rtol=1e-5)

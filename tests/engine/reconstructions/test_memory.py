"""The rough memory model shown before a run: its documented terms and how it scales."""

from __future__ import annotations

import pytest
import torch

from recon_engine.errors import ParameterError
from recon_engine.reconstructions.memory import BYTES_PER_VALUE, estimate_memory_bytes, format_bytes

SHAPE = (8, 1, 128, 256)  # (coils, k2, k1, k0): the 128² phantom with 2× readout oversampling


def test_direct_counts_kspace_copies_coil_images_and_result() -> None:
    k = 8 * 128 * 256
    v = 128 * 256
    expected = (2 * k + 2 * 8 * v + v) * BYTES_PER_VALUE
    assert estimate_memory_bytes(SHAPE, "direct", {}, device="cpu") == expected
    # the result is at least as large as the k-space it came from and the image
    assert expected > k * BYTES_PER_VALUE + v * BYTES_PER_VALUE


def test_ordering_of_methods_and_options() -> None:
    def est(method: str, device: str = "cpu", **options: object) -> int:
        return estimate_memory_bytes(SHAPE, method, options, device=device)

    direct = est("direct")
    assert direct < est("grappa") < est("sense", coil_maps="walsh")
    assert est("sense", coil_maps="walsh") < est("sense", coil_maps="espirit")  # C² per voxel
    assert est("sense", coil_maps="walsh") < est("tv", coil_maps="walsh")  # PDHG keeps more vectors
    assert est("sense", coil_maps="walsh") < est("wavelet", coil_maps="walsh")
    two_sets = est("sense", coil_maps="walsh", coil_map_options={"n_maps": 2})
    assert two_sets > est("sense", coil_maps="walsh")
    # unknown methods: iterative when they take an iteration count
    assert est("mystery") == direct
    assert est("mystery", iterations=10) > direct
    # CUDA adds the cuFFT work area
    assert est("direct", device="cuda") > direct
    auto = est("direct", device="auto")
    assert auto == (est("direct", device="cuda") if torch.cuda.is_available() else direct)


def test_scaling_with_data_size() -> None:
    one = estimate_memory_bytes(SHAPE, "tv", {}, device="cpu")
    assert estimate_memory_bytes((4, *SHAPE), "tv", {}, device="cpu") > one
    more_coils = estimate_memory_bytes((16, *SHAPE[1:]), "tv", {}, device="cpu")
    assert 1.5 * one < more_coils < 5 * one  # linear (and C² for ESPIRiT) in the coils
    three_d = estimate_memory_bytes((8, 64, 128, 256), "tv", {}, device="cpu")
    assert three_d > 50 * one


def test_nufft_adds_oversampled_grids() -> None:
    shape = (8, 1, 64, 256)  # 64 spokes × 256 samples
    cart = estimate_memory_bytes(shape, "sense", {}, device="cpu", image_shape=(128, 128))
    nufft = estimate_memory_bytes(
        shape, "sense", {}, device="cpu", image_shape=(128, 128), non_cartesian=True
    )
    v = 128 * 128
    assert nufft - cart == (4 * 8 * v + 4 * v + 4 * 8 * v) * BYTES_PER_VALUE


def test_bad_shapes_and_formatting() -> None:
    with pytest.raises(ParameterError, match="coils, k2, k1, k0"):
        estimate_memory_bytes((128, 256), "direct", {}, device="cpu")
    with pytest.raises(ParameterError):
        estimate_memory_bytes((8, 0, 128, 256), "direct", {}, device="cpu")
    assert format_bytes(512) == "512 B"
    assert format_bytes(3_400_000) == "3.4 MB"
    assert format_bytes(25_000_000) == "25 MB"
    assert format_bytes(2_500_000_000) == "2.5 GB"

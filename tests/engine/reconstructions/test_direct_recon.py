"""Direct reconstruction against an analytic image (no FFT inverse crime).

The object is a sum of Gaussians, whose continuous Fourier transform is known in
closed form; k-space is sampled from it on the Cartesian grid (with 2× readout
oversampling), and the reconstruction is compared with the Gaussians evaluated on the
image grid.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import recon_engine as mr
from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.geometry import Geometry
from recon_engine.data.header import parse_header
from recon_engine.data.kspace import KSpace
from recon_engine.errors import ParameterError
from recon_engine.metrics import nrmse
from recon_engine.progress import ProgressEvent
from tests.engine.data.test_header import XML

BLOBS = [(0.0, 0.0, 20.0, 1.0), (30.0, -20.0, 10.0, 0.6), (-35.0, 25.0, 8.0, 0.8)]  # x, y, sigma (mm), amp


def analytic_image(n: int, fov: float) -> np.ndarray:
    c = (np.arange(n) - n // 2) * fov / n
    y, x = np.meshgrid(c, c, indexing="ij")
    return sum(a * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * s**2)) for x0, y0, s, a in BLOBS)


def analytic_kspace(nx: int, ny: int, fov_x: float, fov_y: float) -> np.ndarray:
    kx = (np.arange(nx) - nx // 2) / fov_x  # cycles / mm
    ky = (np.arange(ny) - ny // 2) / fov_y
    KY, KX = np.meshgrid(ky, kx, indexing="ij")
    out = np.zeros((ny, nx), dtype=np.complex128)
    for x0, y0, s, a in BLOBS:
        out += (
            a
            * 2
            * np.pi
            * s**2
            * np.exp(-2 * np.pi**2 * s**2 * (KX**2 + KY**2))
            * np.exp(-2j * np.pi * (KX * x0 + KY * y0))
        )
    return out


def make_kspace(coils: np.ndarray | None = None, mask_step: int = 1) -> KSpace:
    h = parse_header(XML)  # encoded 256×128 over 440×220 mm; recon 128×128 over 220×220 mm
    k = analytic_kspace(256, 128, 440.0, 220.0)
    # scale: the orthonormal inverse DFT of samples of the continuous FT gives image / (dx dy sqrt(N))
    k = k / (440.0 / 256 * 220.0 / 128) / np.sqrt(256 * 128)
    c = np.ones((1, 1, 1)) if coils is None else coils
    data = (c[:, None] * k[None, None]).astype(np.complex64)  # (coils, k2, k1, k0)
    mask = np.zeros((1, 128), dtype=bool)
    mask[:, ::mask_step] = True
    data = data * mask[None, :, :, None]
    return KSpace(
        data=torch.from_numpy(data),
        header=h,
        geometry=Geometry.from_vectors(h.encoded_matrix, h.encoded_fov_mm),
        other_axes=(),
        sampling_mask=torch.from_numpy(mask),
        calibration_mask=torch.zeros(1, 128, dtype=torch.bool),
        acquisitions=AcquisitionTable(np.zeros(0)),
    )


def test_direct_recon_matches_the_analytic_image() -> None:
    img = mr.reconstruct(make_kspace(), device="cpu")
    assert img.shape == (1, 1, 128, 128)
    ref = analytic_image(128, 220.0)
    # measured NRMSE 1.2e-7 (float32 round-off): the Gaussians are band-limited for this grid
    assert nrmse(img.magnitude()[0, 0], ref) < 1e-5
    assert img.geometry.matrix == (128, 128, 1)
    assert img.geometry.voxel_size_mm[:2] == pytest.approx((220 / 128, 220 / 128))


def test_adaptive_and_rss_agree_for_a_single_coil() -> None:
    ks = make_kspace()
    a = mr.reconstruct(ks, combine="adaptive").magnitude()
    r = mr.reconstruct(ks, combine="rss").magnitude()
    assert nrmse(a, r) < 1e-5


def test_undersampled_data_is_zero_filled_and_aliased() -> None:
    r2 = mr.reconstruct(make_kspace(mask_step=2)).magnitude()[0, 0]
    ref = analytic_image(128, 220.0)
    # every 2nd line (centre included): half the object plus a copy shifted by FOV/2 along y
    expected = 0.5 * (ref + np.roll(ref, 64, axis=0))
    assert nrmse(r2, expected) < 1e-4


def test_events_and_previews() -> None:
    events: list[ProgressEvent] = []
    mr.reconstruct(make_kspace(), progress=events.append)
    assert events[0].iteration == 0
    assert events[-1].iteration == events[-1].total == 1
    assert events[-1].preview is not None and events[-1].preview.dtype == np.float32
    assert events[-1].preview.shape == (128, 128)


def test_multi_volume_gets_one_event_per_volume() -> None:
    ks = make_kspace()
    ks = replace(
        ks,
        data=ks.data.expand(3, *ks.data.shape).clone(),
        other_axes=("contrast",),
        sampling_mask=ks.sampling_mask.expand(3, 1, 128).clone(),
    )
    gen = mr.reconstruct_steps(ks)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            img = stop.value
            break
    assert [e.iteration for e in events] == [0, 1, 2, 3]
    assert img.shape == (3, 1, 1, 128, 128)
    assert img.other_axes == ("contrast",)


def test_coil_images_are_kept_with_combine_none() -> None:
    coils = np.array([1.0, 0.5j, -0.25], dtype=np.complex64)[:, None, None]
    img = mr.reconstruct(make_kspace(coils=coils), combine="none")
    assert img.shape == (3, 1, 128, 128)
    rss = mr.reconstruct(make_kspace(coils=coils), combine="rss").magnitude()[0, 0]
    assert nrmse(rss, analytic_image(128, 220.0) * np.sqrt(1 + 0.25 + 1 / 16)) < 1e-4


def test_bad_parameters() -> None:
    ks = make_kspace()
    with pytest.raises(ParameterError, match="unknown coil combination"):
        mr.reconstruct(ks, combine="magic")
    with pytest.raises(ParameterError, match="unknown reconstruction method"):
        mr.reconstruct(ks, method="deep")
    with pytest.raises(ParameterError, match="device"):
        mr.reconstruct(ks, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="no CUDA GPU"):
            mr.reconstruct(ks, device="cuda")
    radial = replace(ks, header=replace(ks.header, trajectory="radial"))
    with pytest.raises(ParameterError, match="NUFFT"):
        mr.reconstruct(radial)


@pytest.mark.cuda
def test_cuda_matches_cpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    ks = make_kspace()
    a = mr.reconstruct(ks, device="cpu", combine="adaptive").magnitude()
    b = mr.reconstruct(ks, device="cuda", combine="adaptive").magnitude()
    assert nrmse(b, a) < 1e-5


def test_3d_reconstruction_of_a_simulated_volume(tmp_path: Path) -> None:
    from recon_engine.simulate import birdcage_sensitivities, shepp_logan_3d, simulate_cartesian

    vol = shepp_logan_3d(32, 16)
    maps = birdcage_sensitivities(4, vol.shape)  # sum |S|^2 = 1
    ks = simulate_cartesian(vol, maps, noise_std=0.0, fov_mm=(200.0, 200.0, 80.0))
    assert ks.shape == (4, 16, 32, 64)  # 2x readout oversampling
    with pytest.warns(UserWarning, match="without prewhitening"):  # the noise scan is all zeros
        img = mr.reconstruct(ks, combine="rss")
    assert img.meta["prewhitened"] is False
    assert img.shape == (1, 16, 32, 32)
    assert img.geometry.matrix == (32, 32, 16)
    assert img.geometry.voxel_size_mm == pytest.approx((200 / 32, 200 / 32, 80 / 16))
    # noise-free, fully sampled: RSS = |object| (the oversampled FOV is empty outside)
    assert nrmse(img.magnitude()[0], np.abs(vol)) < 1e-5
    written = mr.save(img, tmp_path / "vol.nii.gz")
    import nibabel as nib

    nii = nib.load(written[0])
    assert nii.shape == (32, 32, 16)
    assert nii.header.get_zooms() == pytest.approx((200 / 32, 200 / 32, 5.0))

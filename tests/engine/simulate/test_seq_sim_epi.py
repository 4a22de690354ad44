"""Simulated EPI reconstructs to the phantom; the simulation's previews, Stop and demo B0 map.

The KomaMRI folder's ``epi.seq`` (Pulseq's writeEpi demo: 64², 3 slices, no FOV definition;
its ``Δk = 4.545 /m`` makes the FOV 220 mm) used to reconstruct as an "hourglass" (NRMSE 0.94):
the image-entropy N/2-ghost estimate could not tell object from ghost for a Shepp–Logan filling
92 % of the phase-encoding FOV and picked ``φ0 = π`` (object and ghost swapped). Ghost-free data
now keep ``φ0 ≈ 0`` (docs/simulation.md).
"""

from __future__ import annotations

import numpy as np
import pytest

import recon_engine as mr
from recon_engine.calibration.epi import EpiPhase, apply_epi_phase, estimate_epi_phase
from recon_engine.errors import ParameterError
from recon_engine.io.pulseq import read_seq
from recon_engine.progress import ProgressEvent
from recon_engine.simulate import _seq_examples as ex
from recon_engine.simulate import simulate_seq, simulate_seq_steps, smooth_b0_map
from recon_engine.simulate._sim_phantom import load_maps
from tests.conftest import shared_data


def _nrmse(img: np.ndarray, ref: np.ndarray) -> float:
    scale = (img * ref).sum() / (img * img).sum()
    return float(np.linalg.norm(scale * img - ref) / np.linalg.norm(ref))


@pytest.mark.parametrize("version", ["v1.4", "v1.5"])
def test_koma_epi_reconstructs_to_the_phantom(version: str) -> None:
    seq = read_seq(shared_data("koma_pulseq_read_comparison") / version / "epi.seq")
    ks = simulate_seq(
        seq, "shepp-logan", coils=1, isochromats=1, matrix=(64, 64), spoiling="ideal", fov_mm=220
    )
    assert ks.header.trajectory == "epi"  # reversed lines sample kx -32..31, the others -31..32
    assert bool(ks.acquisitions.is_kind("reverse").any())
    # 3 slices without SLC label, told apart by the excitations' frequency offsets (-3, 0, 3 mm);
    # the phantom lies in the plane of the first
    assert ks.other_axes == ("slice",) and tuple(ks.data.shape) == (3, 1, 1, 64, 64)
    phase = estimate_epi_phase(ks, method="image")
    phi0, phi1 = (float(np.ravel(v)[0]) for v in (phase.constant_rad, phase.slope_rad_per_pixel))
    assert abs(phi0) < 0.05  # measured 5e-4 (was -3.141: object and ghost swapped)
    assert abs(phi1) < 1e-3  # measured 1e-5
    image = mr.reconstruct(ks, device="cpu")  # direct: the automatic EPI correction included
    assert image.meta["epi_correction"] == "auto"
    img = np.abs(image.data.numpy()).reshape(-1, 64, 64)[0]
    ref = load_maps("shepp-logan", (64, 64))["pd"]
    nrmse = _nrmse(img, ref)
    print(f"koma {version} epi: NRMSE {nrmse:.3f}")
    assert nrmse < 0.2  # measured 0.125 (the same without correction; was 0.94)


def test_fov_filling_object_with_a_phase_error_is_corrected() -> None:
    # the same simulated EPI with a known odd/even error: the image estimate still finds it
    seq = read_seq(shared_data("koma_pulseq_read_comparison") / "v1.5" / "epi.seq")
    ks = simulate_seq(
        seq, "shepp-logan", coils=1, isochromats=1, matrix=(64, 64), spoiling="ideal", fov_mm=220
    )
    error = EpiPhase(np.array(-0.6), np.array(-0.03), 64, "test")  # apply multiplies by exp(-iφ)
    ghosted = apply_epi_phase(ks, error)
    phase = estimate_epi_phase(ghosted, method="image")  # slice 1: the phantom's
    assert float(np.ravel(phase.constant_rad)[0]) == pytest.approx(0.6, abs=0.05)
    assert float(np.ravel(phase.slope_rad_per_pixel)[0]) == pytest.approx(0.03, abs=3e-3)
    img = np.abs(mr.reconstruct(ghosted, device="cpu").data.numpy()).reshape(-1, 64, 64)[0]
    assert _nrmse(img, load_maps("shepp-logan", (64, 64))["pd"]) < 0.2


def test_steps_preview_the_signal_and_close() -> None:
    seq = ex.gre(16, flip_deg=90.0)
    events = []
    gen = simulate_seq_steps(seq, "brain", coils=2, isochromats=1)
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        ks = stop.value
    assert all(isinstance(e, ProgressEvent) and e.stage == "simulate" for e in events)
    last = events[-1]
    assert last.iteration == last.total and last.preview is not None
    assert last.preview.shape == (16, 16) and last.preview.dtype == np.float32  # ADC events × samples
    assert float(last.preview.max()) == pytest.approx(np.log1p(1e3), rel=1e-5)
    assert ks.data.shape[-2:] == (16, 16)
    gen = simulate_seq_steps(seq, "brain", coils=2, isochromats=1)
    first = next(gen)
    assert first.iteration == 0 and first.preview is None
    gen.close()  # what the GUI's Stop does
    with pytest.raises(StopIteration):
        next(gen)


def test_smooth_b0_map() -> None:
    m = smooth_b0_map((32, 32), 50.0)
    assert m.shape == (32, 32) and float(m.max()) == pytest.approx(50.0, rel=0.02)
    assert np.unravel_index(int(np.argmax(m)), m.shape) == (16 - 10, 16)  # 0.3 FOV above the centre
    assert float(m[16:].max()) < 0.14 * 50.0
    assert smooth_b0_map((4, 32, 32)).shape == (4, 32, 32)
    with pytest.raises(ParameterError):
        smooth_b0_map((32,))

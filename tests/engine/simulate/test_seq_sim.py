"""Pulseq sequence simulation: analytic cases, raw-data layout, images, progress and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import recon_engine as mr
from recon_engine.errors import DataError, ParameterError
from recon_engine.io.ismrmrd_write import write_ismrmrd
from recon_engine.progress import ProgressEvent
from recon_engine.simulate import _seq_examples as ex
from recon_engine.simulate._seq_timeline import AdcReadout, RfPulse, build_timeline
from recon_engine.simulate.phantom import shepp_logan
from recon_engine.simulate.seq_sim import _as_sequence, simulate_seq, simulate_seq_steps


def one_voxel(**maps: float) -> dict[str, np.ndarray]:
    return {k: np.full((1, 1), v) for k, v in maps.items()}


def flat(n: int, pd: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Maps with T1 ≪ TR (full recovery every TR) and no T2 decay: with ideal spoiling, image = PD · sin α."""
    return {
        "pd": shepp_logan(n) if pd is None else pd,
        "t1_ms": np.full((n, n), 0.01),
        "t2_ms": np.full((n, n), 1e9),
    }


@pytest.fixture(scope="module")
def gre16() -> object:
    return _as_sequence(ex.gre(16, flip_deg=90.0))


def test_fid_t2star_decay() -> None:
    # T2 100 ms, T2* 20 ms (T2' 25 ms): the FID decays with T2*
    ks = simulate_seq(
        ex.fid(), one_voxel(pd=1.0, t1_ms=1000.0, t2_ms=100.0, t2s_ms=20.0), coils=1, isochromats=128
    )
    s = ks.data.reshape(-1).numpy()
    t = 80e-6 + (np.arange(s.size) + 0.5) * 50e-6  # from the pulse centre
    sel = (t > 0.5e-3) & (t < 60e-3)
    slope = np.polyfit(t[sel], np.log(np.abs(s[sel])), 1)[0]
    assert -1 / slope == pytest.approx(20e-3, rel=5e-3)  # measured 19.993 ms


def test_spin_echo_t2_decay() -> None:
    # CPMG, echo spacing 10 ms, T2 80 ms, T2* 20 ms: echoes refocus T2' and decay with T2
    ks = simulate_seq(
        ex.cpmg(), one_voxel(pd=1.0, t1_ms=1000.0, t2_ms=80.0, t2s_ms=20.0), coils=1, isochromats=128
    )
    echoes = np.abs(ks.data.numpy().reshape(16, 3)[:, 1])
    te = 10e-3 * np.arange(1, 17)
    slope, icpt = np.polyfit(te, np.log(echoes), 1)
    assert -1 / slope == pytest.approx(80e-3, rel=5e-3)  # measured 80.01 ms
    assert math.exp(icpt) == pytest.approx(1.0, abs=0.01)
    assert echoes[0] == pytest.approx(math.exp(-10 / 80), rel=0.01)


def ernst(flip_deg: float, tr: float, te: float, t1: float, t2: float) -> float:
    a = math.radians(flip_deg)
    e1 = math.exp(-tr / t1)
    return math.sin(a) * (1 - e1) / (1 - math.cos(a) * e1) * math.exp(-te / t2)


def test_gre_steady_state_ideal_spoiling_is_ernst() -> None:
    seq = ex.spoiled_single_voxel(rf_spoiling=False, n_tr=300)
    ks = simulate_seq(
        seq, one_voxel(pd=1.0, t1_ms=500.0, t2_ms=50.0), coils=1, isochromats=1, spoiling="ideal"
    )
    s = np.abs(ks.data.reshape(-1).numpy())[-20:].mean()
    assert s == pytest.approx(ernst(20.0, 10e-3, 2e-3, 0.5, 0.05), rel=1e-4)  # measured 2e-6


def test_gre_steady_state_rf_spoiled_near_ernst() -> None:
    # 117° quadratic RF spoiling + a 4-cycle gradient spoiler over 64 isochromats
    seq = ex.spoiled_single_voxel(rf_spoiling=True, n_tr=300)
    ks = simulate_seq(seq, one_voxel(pd=1.0, t1_ms=500.0, t2_ms=50.0), coils=1, isochromats=64)
    s = np.abs(ks.data.reshape(-1).numpy())[-20:].mean()
    assert s == pytest.approx(ernst(20.0, 10e-3, 2e-3, 0.5, 0.05), rel=0.025)  # measured -0.9 %


def bssfp_steady_state(df: float, tr: float, flip_deg: float, t1: float, t2: float) -> float:
    """|M_xy| at TE = TR/2 of ±α bSSFP with instantaneous pulses (fixed point of two TRs)."""
    a = math.radians(flip_deg)

    def rot(phi: float) -> np.ndarray:
        n = np.array([math.cos(phi), math.sin(phi), 0.0])
        k = np.array([[0, -n[2], n[1]], [n[2], 0, -n[0]], [-n[1], n[0], 0]])
        out = np.eye(4)
        out[:3, :3] = np.eye(3) + math.sin(-a) * k + (1 - math.cos(-a)) * k @ k
        return out

    tau = tr / 2
    c, s = math.cos(2 * math.pi * df * tau), math.sin(2 * math.pi * df * tau)
    e2, e1 = math.exp(-tau / t2), math.exp(-tau / t1)
    free = np.array([[c * e2, s * e2, 0, 0], [-s * e2, c * e2, 0, 0], [0, 0, e1, 1 - e1], [0, 0, 0, 1]])
    p = free @ rot(0.0) @ free @ free @ rot(math.pi) @ free
    m = np.linalg.solve(np.eye(3) - p[:3, :3], p[:3, 3])
    return float(abs(m[0] + 1j * m[1]))


def test_bssfp_off_resonance_profile() -> None:
    # one voxel per off-resonance, each seen by its own "coil" (identity sensitivities)
    n, tr = 21, 5e-3
    df = np.linspace(-1 / tr, 1 / tr, n)
    maps = {
        "pd": np.ones((1, n)),
        "t1_ms": np.full((1, n), 300.0),
        "t2_ms": np.full((1, n), 100.0),
        "b0_hz": df[None],
    }
    sens = np.eye(n, dtype=np.complex64).reshape(n, 1, n)
    ks = simulate_seq(ex.bssfp(tr_s=tr, n_tr=300), maps, coils=sens, isochromats=1, matrix=(1, n))
    sim = np.abs(ks.data.numpy()[:, 0, -1, 0]) * n  # one of n voxels in the FOV
    ref = np.array([bssfp_steady_state(f, tr, 60.0, 0.3, 0.1) for f in df])
    assert np.abs(sim - ref).max() < 0.01 * ref.max()  # measured 0.13 %
    assert ref[n // 4] < 0.1 * ref.max()  # the dark band at ±1/(2 TR) is there


def test_timeline_moments_match_pypulseq_kspace(gre16: object) -> None:
    tl = build_timeline(gre16)  # type: ignore[arg-type]
    k = gre16.kspace_adc()  # type: ignore[attr-defined]
    centre = None
    for ev in tl.events:
        if isinstance(ev, RfPulse):
            centre = ev.start_s + ev.duration_s / 2
        else:
            assert isinstance(ev, AdcReadout) and centre is not None
            m = tl.moment.at(ev.times_s) - tl.moment.at(np.array(centre))
            np.testing.assert_allclose(m, k[ev.index], atol=1e-6)


def test_point_object_lands_in_its_voxel_with_unit_amplitude(gre16: object) -> None:
    pd = np.zeros((16, 16))
    pd[3, 11] = 1.0
    ks = simulate_seq(gre16, flat(16, pd), coils=1, isochromats=1, spoiling="ideal", voxel_shape="point")
    assert ks.header.trajectory == "cartesian" and ks.shape == (1, 1, 16, 16)
    img = np.abs(mr.reconstruct(ks).data.squeeze().numpy())
    assert np.unravel_index(np.argmax(img), img.shape) == (3, 11)
    assert img[3, 11] == pytest.approx(1.0, abs=1e-3)  # sin 90° × PD
    np.testing.assert_allclose(np.delete(img.ravel(), 3 * 16 + 11), 0.0, atol=1e-4)


def test_b0_offset_shifts_along_the_readout(gre16: object) -> None:
    # readout flat time 3.2 ms: 312.5 Hz per pixel; 312.5 Hz moves the point by one pixel in x
    pd = np.zeros((16, 16))
    pd[8, 8] = 1.0
    ks = simulate_seq(gre16, flat(16, pd), coils=1, isochromats=1, b0=312.5, spoiling="ideal")
    img = np.abs(mr.reconstruct(ks).data.squeeze().numpy())
    y, x = np.unravel_index(np.argmax(img), img.shape)
    assert y == 8 and abs(x - 8) == 1


def test_multicoil_image_of_the_phantom() -> None:
    n = 32
    seq = ex.gre(n, flip_deg=90.0)
    ks = simulate_seq(seq, flat(n), coils=4, isochromats=1, spoiling="ideal", voxel_shape="point")
    assert ks.n_coils == 4
    img = np.abs(mr.reconstruct(ks, combine="rss").data.squeeze().numpy())
    ref = shepp_logan(n)
    assert np.linalg.norm(img - ref) / np.linalg.norm(ref) < 0.01


def test_noise_level_and_seed(gre16: object) -> None:
    maps = flat(16, np.zeros((16, 16)) + 1e-9)
    ks = simulate_seq(gre16, maps, coils=2, isochromats=1, noise=0.1, seed=3)
    d = ks.data.numpy().reshape(-1)
    assert np.std(d) == pytest.approx(0.1, rel=0.1)
    again = simulate_seq(gre16, maps, coils=2, isochromats=1, noise=0.1, seed=3)
    np.testing.assert_array_equal(ks.data.numpy(), again.data.numpy())


def test_ismrmrd_round_trip_and_attach(tmp_path: object, gre16: object) -> None:
    ks = simulate_seq(gre16, "brain", coils=2, isochromats=2)
    path = write_ismrmrd(ks, tmp_path / "sim.h5")  # type: ignore[operator]
    back = mr.read(path)
    np.testing.assert_allclose(back.data.numpy(), ks.data.numpy(), atol=1e-7)
    seq_file = tmp_path / "gre.seq"  # type: ignore[operator]
    ex.gre(16, flip_deg=90.0).write(str(seq_file))
    attached = mr.read(path, seq=seq_file)
    np.testing.assert_allclose(attached.data.numpy(), ks.data.numpy(), atol=1e-7)
    assert ks.meta["simulation"]["isochromats"] > 0  # type: ignore[index]


def test_steps_yield_progress_and_stop(gre16: object) -> None:
    gen = simulate_seq_steps(gre16, "brain", coils=1, isochromats=1)
    first = next(gen)
    assert isinstance(first, ProgressEvent) and first.stage == "simulate" and first.iteration == 0
    gen.close()  # Stop: the consumer stops iterating
    events: list[ProgressEvent] = []
    ks = simulate_seq(gre16, "brain", coils=1, isochromats=1, progress=events.append)
    assert events[-1].iteration == events[-1].total
    assert events[-1].metrics["isochromat_steps"] == ks.meta["simulation"]["isochromat_steps"]  # type: ignore[index]


def test_phantom_maps_are_resampled(gre16: object) -> None:
    big = flat(64)
    ks = simulate_seq(gre16, big, coils=1, isochromats=1)
    assert ks.meta["simulation"]["matrix"] == (16, 16)  # type: ignore[index]
    assert torch.isfinite(ks.data).all()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"phantom": "liver"}, ParameterError),
        ({"noise": -1.0}, ParameterError),
        ({"isochromats": 0}, ParameterError),
        ({"spoiling": "perfect"}, ParameterError),
        ({"voxel_shape": "sphere"}, ParameterError),
        ({"phantom": {"t1_ms": np.ones((4, 4))}}, ParameterError),
        ({"coils": np.ones((2, 3, 3), np.complex64)}, ParameterError),
    ],
)
def test_bad_input(gre16: object, kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        simulate_seq(gre16, **kwargs)  # type: ignore[arg-type]


def test_sequence_without_adc() -> None:
    import pypulseq as pp

    seq = pp.Sequence(ex.system())
    seq.add_block(pp.make_delay(1e-3))
    seq.set_definition("FOV", [0.2, 0.2, 0.005])
    with pytest.raises(DataError, match="no ADC"):
        simulate_seq(seq)


def test_box_voxels_apodise_by_the_voxel_sinc(gre16: object) -> None:
    pd = np.zeros((16, 16))
    pd[8, 8] = 1.0
    point = simulate_seq(gre16, flat(16, pd), coils=1, isochromats=1, spoiling="ideal", voxel_shape="point")
    box = simulate_seq(gre16, flat(16, pd), coils=1, isochromats=1, spoiling="ideal")
    k = np.arange(16) - 8 + 0.5  # readout samples at half-integer kx, lines at integer ky
    ky = np.arange(16) - 8
    expect = np.sinc(ky / 16)[:, None] * np.sinc(k / 16)[None, :]
    ratio = np.abs(box.data.numpy()[0, 0]) / np.abs(point.data.numpy()[0, 0])
    np.testing.assert_allclose(ratio, expect, atol=2e-3)

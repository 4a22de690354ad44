"""Pulseq reader (pypulseq) against MATLAB Pulseq's decoding, and matching a .seq to raw data."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.flags import flag_mask, has_flag
from recon_engine.data.header import parse_header
from recon_engine.data.readouts import Readouts
from recon_engine.errors import DataError, FileFormatError, ParameterError
from recon_engine.io._ismrmrd_acquisitions import acquisition_header_dtype
from recon_engine.io.ismrmrd_write import make_header_xml
from recon_engine.io.pulseq import PulseqSequence, attach_sequence, read_seq, trajectory_from_seq
from recon_engine.io.sorting import sort_readouts
from tests.conftest import shared_data

KOMA = "koma_pulseq_read_comparison"
SE_DIR = ("pulseq_mr_physics_course", "02_rf_pulses", "data")
#: The gyromagnetic ratio KomaMRI used to store MATLAB's Hz and Hz/m as T and T/m.
GAMMA = 42.5774688e6
#: Every file of the comparison set that has MATLAB's decoding (.mat).
MAT_FILES = [
    "v1.2/epi_JEMRIS", "v1.2/fid", "v1.3/epi", "v1.3/fid", "v1.3/spiral",
    "v1.4/epi", "v1.4/fid-gammaSTAR", "v1.4/fid", "v1.4/gr-time-shaped", "v1.4/gr-trapezoidal",
    "v1.4/gr-uniformly-shaped", "v1.4/rf-pulse", "v1.4/rf-time-shaped", "v1.4/rf-uniformly-shaped",
    "v1.4/spiral", "v1.5/epi", "v1.5/fid", "v1.5/gr-time-shaped", "v1.5/gr-trapezoidal",
    "v1.5/gr-uniformly-shaped", "v1.5/rf-pulse", "v1.5/rf-time-shaped", "v1.5/rf-uniformly-shaped",
    "v1.5/spiral",
]  # fmt: skip


def _matlab(path: Path) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
    """MATLAB's per-block ``{rf, df, gx, gy, gz, adc: (t, A)}`` (A in T, T/m, Hz, 1)."""
    from scipy.io import loadmat

    blocks = loadmat(str(path))["sequence"].ravel()
    return [
        {
            n: (np.ravel(b[n][0, 0]["t"][0, 0]).astype(float), np.ravel(b[n][0, 0]["A"][0, 0]))
            for n in b.dtype.names
        }
        for b in blocks
    ]


def _compare(seq: PulseqSequence, mat: list[dict[str, tuple[np.ndarray, np.ndarray]]]) -> dict[str, float]:
    """Largest disagreements with MATLAB (gradients and RF relative to their peak, times in s)."""
    err = dict.fromkeys(("block", "adc_t", "grad", "grad_edge", "rf_t", "rf_abs", "rf_phase"), 0.0)
    starts, durs = seq.block_starts_s, seq.block_durations_s
    whole = seq.waveforms()
    peak_g = max(float(np.abs(whole.grad[a][1]).max(initial=0)) for a in "xyz") or 1.0
    peak_rf = float(np.abs(whole.rf).max(initial=0)) or 1.0
    adc: list[np.ndarray] = []
    ids = list(seq.raw.block_events)
    for i, block in enumerate(mat):
        if not any(t.size for t, _ in block.values()):
            continue
        w = seq.waveforms(blocks=(i, i + 1))
        for name in ("gx", "gy", "gz", "rf", "adc"):
            t, a = block[name]
            if t.size == 0:
                continue
            err["block"] = max(
                err["block"], float(np.max(np.maximum(starts[i] - t, t - starts[i] - durs[i])))
            )
            if name == "adc":
                adc.append(t)
            elif name == "rf":
                assert w.rf.shape == a.shape, f"block {i}: {w.rf.size} RF points, MATLAB {a.size}"
                hz = a * GAMMA
                err["rf_t"] = max(err["rf_t"], float(np.abs(w.rf_t_s - t).max()))
                err["rf_abs"] = max(err["rf_abs"], float(np.abs(np.abs(w.rf) - np.abs(hz)).max()) / peak_rf)
                rf = seq.raw.get_block(ids[i]).rf
                if (
                    rf.freq_offset == 0 and getattr(rf, "freq_ppm", 0) == 0
                ):  # MATLAB references offsets differently
                    on = np.abs(hz) > 1e-3 * peak_rf
                    err["rf_phase"] = max(err["rf_phase"], float(np.abs(np.angle(w.rf[on] / hz[on])).max()))
            else:
                tg, g = w.grad[name[1]]
                ours = np.interp(t, tg, g, left=0.0, right=0.0)
                keep = np.ones(t.size, bool)  # skip jumps: two MATLAB points at one time
                same = np.flatnonzero(np.diff(t) == 0)
                keep[same] = keep[same + 1] = False
                edge = np.zeros(t.size, bool)
                if seq.version[:2] < (1, 5):  # first/last are not in the file before 1.5
                    edge[[0, -1]] = True
                d = np.abs(ours - a * GAMMA) / peak_g
                err["grad"] = max(err["grad"], float(d[keep & ~edge].max(initial=0)))
                err["grad_edge"] = max(err["grad_edge"], float(d[keep & edge].max(initial=0)))
    if adc:
        ev = seq.adc_events()
        ours = np.concatenate(
            [
                s + (np.arange(n) + 0.5) * dw
                for s, n, dw in zip(ev.start_s, ev.n_samples, ev.dwell_s, strict=True)
            ]
        )
        theirs = np.concatenate(adc)
        assert ours.shape == theirs.shape
        err["adc_t"] = float(np.abs(ours - theirs).max())
    return err


@pytest.mark.parametrize("name", MAT_FILES)
def test_reader_agrees_with_matlab_pulseq(name: str) -> None:
    folder = shared_data(KOMA)
    seq = read_seq(folder / f"{name}.seq")
    mat = _matlab(folder / f"{name}.mat")
    assert seq.n_blocks == len(mat)
    assert seq.version[:2] == tuple(int(v) for v in name[1:4].split("."))
    err = _compare(seq, mat)
    # measured over all 24 files: events ≤ 1e-17 s outside their block, ADC times ≤ 1.4e-14 s,
    # gradients ≤ 4.7e-13 of the peak, RF times exact, |RF| ≤ 3.5e-16, RF phase ≤ 5e-32 rad
    assert err["block"] < 1e-12
    assert err["adc_t"] < 1e-12
    assert err["grad"] < 1e-9
    assert err["rf_t"] < 1e-12
    assert err["rf_abs"] < 1e-9
    assert err["rf_phase"] < 1e-9
    # Before 1.5 the edge values of arbitrary gradients are not stored: pypulseq extrapolates
    # them linearly, MATLAB restores them by an alternating recursion. They differ by up to
    # 17 % of the peak over the last half raster (10 µs) of v1.3/v1.4 spirals and of the
    # uniformly shaped test gradient; from 1.5 on, the file stores them and they agree.
    assert err["grad_edge"] < (0.2 if seq.version[:2] < (1, 5) else 1e-9)
    total = seq.definitions.get("TotalDuration")
    if isinstance(total, float):
        assert seq.duration_s == pytest.approx(total, abs=1e-9)


@pytest.mark.parametrize(
    ("name", "version"),
    [("v1.2/fid", (1, 2, 0)), ("v1.3/fid", (1, 3, 1)), ("v1.4/fid", (1, 4, 1)), ("v1.5/spiral", (1, 5, 1))],
)
def test_versions_and_definitions(name: str, version: tuple[int, int, int]) -> None:
    seq = read_seq(shared_data(KOMA, f"{name}.seq"))
    assert seq.version == version
    assert seq.n_blocks == seq.block_starts_s.size == seq.block_durations_s.size > 0
    assert seq.duration_s == pytest.approx(float(seq.block_durations_s.sum()))
    if version[1] == 5:
        assert seq.definitions["AdcRasterTime"] == 1e-7
        assert seq.definitions["Name"] == "spiral"
        assert seq.fov_mm == pytest.approx((256.0, 256.0, 3.0))
    if version[1] < 4:
        assert any("older Pulseq format" in n for n in seq.notes)


def test_v13_labels_and_block_table() -> None:
    seq = read_seq(shared_data(KOMA, "v1.3", "gre_lbl.seq"))
    assert seq.version == (1, 3, 1) and seq.n_blocks == 1280
    assert seq.fov_mm == pytest.approx((224.0, 224.0, 3.0))
    assert seq.duration_s == pytest.approx(2.56)
    table = seq.block_table()
    assert table[3] == {
        "index": 3, "start_s": pytest.approx(0.00424), "duration_s": pytest.approx(0.00332),
        "rf": 0, "gx": 5, "gy": 0, "gz": 0, "adc": 1, "labels": "",
    }  # fmt: skip
    assert table[4]["labels"] == "LIN=1" and table[9]["labels"] == "LIN=2"
    assert table[-1]["labels"] == "LIN=0 SLC=1"  # LABELINC SLC chained with LABELSET LIN
    ev = seq.adc_events()
    np.testing.assert_array_equal(ev.labels["LIN"], np.arange(256))
    assert not ev.labels["SLC"].any() and not ev.reversed.any() and not ev.is_dummy.any()
    w = seq.waveforms(blocks=(0, 12))
    assert [(n, v) for _, n, v in w.labels] == [("LIN", 1), ("LIN", 2)]
    assert w.labels[0][0] == pytest.approx(0.00756)
    assert w.block_starts_s.size == 12 and w.adc_t_s.size == 2 * 256
    same = seq.waveforms(time_range_s=(0.0, float(w.block_starts_s[-1]) + 1e-6))
    np.testing.assert_array_equal(same.block_starts_s, w.block_starts_s)


def test_unusual_inputs_that_pypulseq_mishandles(tmp_path: Path) -> None:
    folder = shared_data(KOMA)
    src = folder / "v1.3" / "spiral.seq"  # shapes of exactly num_samples values (pypulseq: TypeError)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert read_seq(src).adc_events().n_samples.sum() == 28000
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest  # read only
    # no blank line after the last shape: pypulseq alone never returns
    assert not (folder / "v1.4" / "gr-time-shaped.seq").read_bytes().endswith(b"\n\n")
    assert read_seq(folder / "v1.4" / "gr-time-shaped.seq").n_blocks == 1


@pytest.mark.parametrize(
    ("old", "new", "shown"), [("minor 4", "minor 1", "1.1.1"), ("major 1", "major 2", "2.4.1")]
)
def test_unsupported_version(tmp_path: Path, old: str, new: str, shown: str) -> None:
    p = tmp_path / "future.seq"
    p.write_text(shared_data(KOMA, "v1.4", "fid.seq").read_text().replace(old, new, 1))
    with pytest.raises(FileFormatError, match=rf"future\.seq: Pulseq version {shown} is not supported") as e:
        read_seq(p)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("name", "fraction"), [("v1.4/gre", 0.3), ("v1.4/gre", 0.9), ("v1.5/spiral", 0.6)])
def test_truncated_file(tmp_path: Path, name: str, fraction: float) -> None:
    text = shared_data(KOMA, f"{name}.seq").read_text()
    p = tmp_path / "cut.seq"
    p.write_text(text[: int(len(text) * fraction)])
    with pytest.raises(FileFormatError, match=r"cut\.seq: .*(truncated|damaged)"):
        read_seq(p)


def test_not_a_sequence(tmp_path: Path) -> None:
    (tmp_path / "notes.seq").write_text("just some text\n")
    with pytest.raises(FileFormatError, match="no \\[VERSION\\] section"):
        read_seq(tmp_path / "notes.seq")
    with pytest.raises(FileFormatError, match="cannot read"):
        read_seq(tmp_path / "missing.seq")


def test_spin_echo_trajectory_is_on_the_cartesian_grid() -> None:
    seq = read_seq(shared_data(*SE_DIR, "se_2D_sinc_img.seq"))
    assert seq.fov_mm == pytest.approx((128.0, 128.0, 30.0))
    k = trajectory_from_seq(seq)  # (n_adc, samples, 3) as (kz, ky, kx), cycles per FOV
    assert k.shape == (64, 64, 3) and k.dtype == np.float32
    ky = k[..., 1]
    assert np.abs(ky - np.round(ky)).max() < 1e-3 and np.ptp(ky, axis=1).max() < 1e-3
    # 64 consecutive lines; the 180° pulse inverts the prephased ky: -31..32 (not -32..31)
    np.testing.assert_array_equal(np.sort(np.round(ky[:, 0])), np.arange(-31, 33))
    np.testing.assert_allclose(np.diff(k[..., 2], axis=1), 1.0, atol=1e-3)
    assert np.abs(k[..., 0]).max() < 1e-3
    np.testing.assert_allclose(seq.kspace_adc()[..., 1] * 0.128, ky, atol=1e-4)
    with pytest.raises(ParameterError):
        trajectory_from_seq(seq, fov_mm=(128.0, -1.0, 5.0))


# --- attach_sequence on synthetic data --------------------------------------------------------

N, FOV = 8, 0.08


def _write_gre(
    path: Path, *, labels: bool = True, reps: int = 1, extras: bool = False, dummies: int = 0
) -> Path:
    """A 2D gradient echo of N lines × N samples (FOV 80 mm) written by pypulseq.

    ``extras``: a NOISE-labelled ADC first, a NAV-labelled readout before each repetition
    and readouts of alternating polarity (EPI-like reversed lines).
    """
    import pypulseq as pp

    system = pp.Opts(max_grad=30, grad_unit="mT/m", max_slew=120, slew_unit="T/m/s", rf_dead_time=100e-6)
    seq = pp.Sequence(system)
    rf = pp.make_block_pulse(flip_angle=np.deg2rad(10), duration=0.2e-3, system=system, delay=100e-6)
    gx = pp.make_trapezoid(channel="x", flat_area=N / FOV, flat_time=0.8e-3, system=system)
    adc = pp.make_adc(num_samples=N, duration=gx.flat_time, delay=gx.rise_time, system=system)
    pre = pp.make_trapezoid(channel="x", area=-gx.area / 2, duration=0.6e-3, system=system)

    def lab(kind: str, name: str, value: Any) -> list[Any]:
        return [pp.make_label(type=kind, label=name, value=value)] if labels else []

    def line(ky: float, sign: float, *extra: Any) -> None:
        gy = pp.make_trapezoid(channel="y", area=ky / FOV, duration=0.6e-3, system=system)
        seq.add_block(rf)
        seq.add_block(pp.scale_grad(pre, sign), gy)
        seq.add_block(pp.scale_grad(gx, sign), adc, *extra)
        seq.add_block(pp.make_delay(1e-3))

    if extras:
        seq.add_block(adc, *lab("SET", "NOISE", True))
        seq.add_block(pp.make_delay(1e-3), *lab("SET", "NOISE", False))
    for _ in range(dummies):
        line(-N / 2, 1)
    for r in range(reps):
        if extras:
            line(0, 1, *lab("SET", "NAV", True))
            seq.add_block(pp.make_delay(1e-3), *lab("SET", "NAV", False))
        for i in range(N):
            sign = -1 if extras and i % 2 else 1
            line(i - N / 2, sign, *lab("SET", "LIN", i), *lab("SET", "REP", r))
    seq.set_definition("FOV", [FOV, FOV, 5e-3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seq.write(str(path))
    return path


def _write_radial(path: Path, spokes: int = 8, n: int = 16) -> Path:
    import pypulseq as pp

    system = pp.Opts(max_grad=30, grad_unit="mT/m", max_slew=120, slew_unit="T/m/s", rf_dead_time=100e-6)
    seq = pp.Sequence(system)
    rf = pp.make_block_pulse(flip_angle=np.deg2rad(10), duration=0.2e-3, system=system, delay=100e-6)
    g = pp.make_trapezoid(channel="x", flat_area=n / FOV, flat_time=0.8e-3, system=system)
    adc = pp.make_adc(num_samples=n, duration=g.flat_time, delay=g.rise_time, system=system)
    for s in range(spokes):
        axes = (("x", np.cos(np.pi * s / spokes)), ("y", np.sin(np.pi * s / spokes)))
        pre = [
            pp.make_trapezoid(channel=ch, area=-g.area / 2 * f, duration=0.6e-3, system=system)
            for ch, f in axes
        ]
        read = [pp.scale_grad(g, f) for _, f in axes]
        read[1].channel = "y"
        seq.add_block(rf)
        seq.add_block(*pre)
        seq.add_block(*read, adc)
        seq.add_block(pp.make_delay(1e-3))
    seq.set_definition("FOV", [FOV, FOV, 5e-3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seq.write(str(path))
    return path


@pytest.fixture(scope="module")
def seqs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PulseqSequence]:
    d = tmp_path_factory.mktemp("seq")
    return {
        "labelled": read_seq(_write_gre(d / "labelled.seq", reps=2, extras=True)),
        "plain": read_seq(_write_gre(d / "plain.seq", labels=False)),
        "plain2": read_seq(_write_gre(d / "plain2.seq", labels=False, reps=2)),
        "dummies": read_seq(_write_gre(d / "dummies.seq", labels=False, dummies=2)),
        "radial": read_seq(_write_radial(d / "radial.seq")),
    }


def _raw(rng: np.random.Generator, n: int, samples: int, noise: int = 0, coils: int = 2) -> Readouts:
    """``noise`` noise-adjust readouts (flagged) followed by ``n`` readouts of random samples."""
    xml = make_header_xml(
        encoded_matrix=(256, 256, 1), encoded_fov_mm=(256, 256, 5), recon_matrix=(256, 256, 1),
        recon_fov_mm=(256, 256, 5), limits={"kspace_encoding_step_1": (0, 255, 128)}, receiver_channels=coils,
    )  # fmt: skip
    heads = np.zeros(noise + n, dtype=acquisition_header_dtype())
    heads["flags"][:noise] = flag_mask("ACQ_IS_NOISE_MEASUREMENT")
    heads["idx"]["kspace_encode_step_1"][noise:] = np.arange(n)  # what a scanner counts: nothing useful
    heads["number_of_samples"], heads["active_channels"] = samples, coils
    heads["read_dir"], heads["phase_dir"], heads["slice_dir"] = [1, 0, 0], [0, 1, 0], [0, 0, 1]
    shape = (noise + n, coils, samples)
    blocks = list((rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64))
    return Readouts(parse_header(xml), AcquisitionTable(heads), blocks, [None] * (noise + n), source="raw.h5")


def test_attach_sets_counters_flags_and_trajectory(
    seqs: dict[str, PulseqSequence], rng: np.random.Generator
) -> None:
    seq = seqs["labelled"]  # NOISE ADC, then 2 × (NAV readout + 8 lines, odd lines reversed)
    raw = _raw(rng, 19, N, noise=1)
    before = raw.acquisitions.headers.copy()
    out = attach_sequence(raw, seq)
    np.testing.assert_array_equal(raw.acquisitions.headers, before)  # inputs untouched
    assert all(t is None for t in raw.trajectories) and "trajectory_units" not in raw.meta
    t = out.acquisitions
    flags = t.flags[1:]
    assert has_flag(t.flags[:1], "ACQ_IS_NOISE_MEASUREMENT").all()  # the scanner's own noise scan
    np.testing.assert_array_equal(has_flag(flags, "ACQ_IS_NOISE_MEASUREMENT"), np.arange(19) == 0)
    np.testing.assert_array_equal(np.flatnonzero(has_flag(flags, "ACQ_IS_PHASECORR_DATA")), [1, 10])
    lines = np.r_[2:10, 11:19]
    np.testing.assert_array_equal(t.counter("kspace_encode_step_1")[1:][lines], np.tile(np.arange(N), 2))
    np.testing.assert_array_equal(t.counter("repetition")[1:][lines], np.repeat([0, 1], N))
    np.testing.assert_array_equal(has_flag(flags, "ACQ_IS_REVERSE")[lines], np.tile(np.arange(N) % 2 == 1, 2))
    traj = out.trajectories[1 + lines[1]]  # a reversed line: kx decreasing, ky = -3
    assert traj is not None and traj.shape == (N, 3)
    np.testing.assert_allclose(traj[:, 0], np.arange(N)[::-1] - 3.5, atol=1e-3)
    np.testing.assert_allclose(traj[:, 1], -3.0, atol=1e-3)
    assert out.meta["trajectory_units"] == "grid" and out.meta["pulseq"]["dummy_adcs"] == 0
    h = out.header
    assert h.trajectory == "cartesian" and h.encoded_matrix == (N, N, 1) and h.recon_matrix == (N, N, 1)
    assert h.encoded_fov_mm == pytest.approx((80.0, 80.0, 5.0)) and parse_header(h.xml).encoded_matrix == (
        N,
        N,
        1,
    )
    ks = sort_readouts(out)
    assert tuple(ks.data.shape) == (2, 2, 1, N, N) and ks.other_axes == ("repetition",)
    assert bool(ks.sampling_mask.all()) and ks.noise is not None and ks.noise.shape == (2, 2 * N)
    assert ks.navigators is not None and ks.navigators.shape[0] == 2
    np.testing.assert_array_equal(ks.data[1, :, 0, 3].numpy(), raw.samples[1 + 11 + 3][:, ::-1])


def test_attach_derives_cartesian_lines_without_labels(
    seqs: dict[str, PulseqSequence], rng: np.random.Generator
) -> None:
    out = attach_sequence(_raw(rng, N, N), seqs["plain"])
    np.testing.assert_array_equal(out.acquisitions.counter("kspace_encode_step_1"), np.arange(N))  # ky + N/2
    assert out.header.trajectory == "cartesian" and sort_readouts(out).sampling_mask.all()
    twice = attach_sequence(_raw(rng, 2 * N, N), seqs["plain2"])  # unlabelled repeats → repetitions
    np.testing.assert_array_equal(twice.acquisitions.counter("repetition"), np.repeat([0, 1], N))
    assert tuple(sort_readouts(twice).data.shape) == (2, 2, 1, N, N)
    small = attach_sequence(_raw(rng, N, N), seqs["plain"], matrix=(N, 2 * N, 1), fov_mm=(100, 100, 5))
    assert small.header.recon_matrix == (N, 2 * N, 1) and small.header.recon_fov_mm == (100.0, 100.0, 5.0)


def test_attach_dummy_scans(seqs: dict[str, PulseqSequence], rng: np.random.Generator) -> None:
    seq = seqs["dummies"]  # 2 dummy readouts (repeats of line 0) + 8 lines
    assert len(seq.adc_events()) == N + 2 and not seq.adc_events().is_dummy.any()
    auto = attach_sequence(_raw(rng, N, N), seq)
    assert auto.meta["pulseq"]["dummy_adcs"] == 2
    np.testing.assert_array_equal(auto.acquisitions.counter("kspace_encode_step_1"), np.arange(N))
    told = attach_sequence(_raw(rng, N, N), seq, n_dummy=2)
    np.testing.assert_array_equal(told.acquisitions.headers, auto.acquisitions.headers)
    assert attach_sequence(_raw(rng, N + 1, N), seq).meta["pulseq"]["dummy_adcs"] == 1
    with pytest.raises(
        DataError, match=r"the \.seq has 10 ADC events of 8 samples, the raw data 11 readouts"
    ):
        attach_sequence(_raw(rng, N + 3, N), seq)


def test_attach_non_cartesian(seqs: dict[str, PulseqSequence], rng: np.random.Generator) -> None:
    out = attach_sequence(_raw(rng, 8, 16), seqs["radial"])
    h = out.header
    assert h.trajectory == "radial" and h.encoded_matrix == (16, 16, 1) and not h.is_cartesian
    np.testing.assert_array_equal(out.acquisitions.counter("kspace_encode_step_1"), np.arange(8))
    traj = np.stack([t for t in out.trajectories if t is not None])  # (spokes, samples, (kx, ky, kz))
    np.testing.assert_allclose(np.linalg.norm(traj[:, [0, -1], :2], axis=-1), 7.5, atol=1e-3)
    ks = sort_readouts(out)
    # k1 runs over the spokes; the sorter pads it to the encoded matrix (16), unsampled rows masked
    assert ks.trajectory is not None and tuple(ks.trajectory.shape) == (1, 16, 16, 3)
    assert int(ks.sampling_mask.sum()) == 8 and bool(ks.sampling_mask[0, :8].all())
    assert ks.meta["trajectory_units"] == "grid"


def test_attach_mismatch_is_a_clear_error(seqs: dict[str, PulseqSequence], rng: np.random.Generator) -> None:
    with pytest.raises(
        DataError, match=r"the \.seq has 8 ADC events of 8 samples, the raw data 7 readouts of 8"
    ):
        attach_sequence(_raw(rng, N - 1, N), seqs["plain"])
    with pytest.raises(DataError, match=r"8 ADC events of 8 samples, the raw data 8 readouts of 16 samples"):
        attach_sequence(_raw(rng, N, 2 * N), seqs["plain"])
    with pytest.raises(ParameterError, match="n_dummy"):
        attach_sequence(_raw(rng, N, N), seqs["plain"], n_dummy=N)


def test_trajectory_needs_a_fov(tmp_path: Path, seqs: dict[str, PulseqSequence]) -> None:
    text = seqs["plain"].path.read_text()
    p = tmp_path / "nofov.seq"
    p.write_text("\n".join(line for line in text.splitlines() if not line.startswith("FOV ")))
    seq = read_seq(p)
    assert seq.fov_mm is None
    with pytest.raises(ParameterError, match="pass fov_mm"):
        trajectory_from_seq(seq)
    k = trajectory_from_seq(seq, fov_mm=80.0)
    np.testing.assert_allclose(k, trajectory_from_seq(seqs["plain"]), atol=1e-5)


# --- the real pair: Siemens raw data + the .seq that drove the scanner ------------------------


def test_spin_echo_raw_data_with_its_sequence() -> None:
    twix = pytest.importorskip("recon_engine.io.twix")
    import recon_engine as mr

    folder = shared_data(*SE_DIR)
    raw = twix.read_twix_readouts(folder / "meas_MID00243_FID33257_pulseq.dat")
    out = attach_sequence(raw, read_seq(folder / "se_2D_sinc_img.seq"))
    ks = sort_readouts(out)
    assert tuple(ks.data.shape) == (32, 1, 64, 64) and bool(ks.sampling_mask.all())
    assert ks.header.trajectory == "cartesian" and ks.header.recon_matrix == (64, 64, 1)
    image = np.abs(mr.reconstruct(ks, device="cpu").data.numpy()).squeeze()
    plain = np.abs(mr.reconstruct(sort_readouts(raw), device="cpu").data.numpy()).squeeze()
    assert image.shape == (64, 64)
    # the scanner numbered the lines in acquisition order, which for this sequence is ky order:
    # the same magnitude image (the seq's k1 = ky + 32 mod 64 only shifts k-space circularly)
    np.testing.assert_allclose(image, plain, rtol=0, atol=1e-5 * plain.max())
    with pytest.raises(DataError, match="the raw data 64 readouts of 64 samples"):
        attach_sequence(raw, read_seq(shared_data(KOMA, "v1.4", "gre.seq")))


def test_jemris_spiral_trajectory_from_seq_matches_the_embedded_one() -> None:
    from recon_engine.io.ismrmrd_read import read_ismrmrd_readouts

    folder = shared_data("jemris_spiral_ismrmrd_sim")
    raw = read_ismrmrd_readouts(folder / "signals_spiralout_clean_slc30.h5")
    out = attach_sequence(raw, read_seq(folder / "spiralout_gre_jemris.seq"))  # Pulseq 1.2.1
    # the 1-sample surface-coil-correction readout JEMRIS adds first is not an ADC of the .seq
    assert out.header.trajectory == "spiral" and out.header.recon_matrix == (220, 220, 1)
    assert out.trajectories[0] is raw.trajectories[0]  # left as it was
    ours = np.stack([t for t in out.trajectories[1:] if t is not None])[..., :2]
    embedded = np.stack([t for t in raw.trajectories[1:] if t is not None])[..., :2]
    assert ours.shape == embedded.shape == (15, 4940, 2)
    # JEMRIS's samples lie 2.5 dwell times (5 µs, half a gradient raster) later than
    # Pulseq's (i + 0.5)·dwell; shifted by that, the trajectories agree
    i = np.arange(4940)
    shifted = np.array([[np.interp(i + 2.5, i, ours[j, :, c]) for c in range(2)] for j in range(15)])
    shifted = shifted.transpose(0, 2, 1)
    assert np.abs(shifted - embedded)[:, :-3].max() < 0.03  # cycles per FOV, |k| up to 109
    assert np.abs(ours - embedded).max() > 1.0  # unshifted they differ visibly

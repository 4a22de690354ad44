"""Slices of multi-slice Pulseq sequences without SLC label, from the excitations' frequency offsets."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from recon_engine.data.acquisitions import AcquisitionTable
from recon_engine.data.header import parse_header
from recon_engine.data.readouts import Readouts
from recon_engine.io._ismrmrd_acquisitions import acquisition_header_dtype
from recon_engine.io.ismrmrd_write import make_header_xml
from recon_engine.io.pulseq import PulseqSequence, attach_sequence, read_seq
from recon_engine.io.sorting import sort_readouts
from tests.conftest import shared_data

N = 8
FOV = 0.2
SLICE_GAP_M = 6e-3


def _write_multislice_gre(
    path: Path, *, slices: int = 2, labels: bool = False, fat_sat: bool = False
) -> Path:
    """2D GRE, ``N`` lines per slice, slices excited with sinc pulses at ``(s − ½)·6 mm``.

    Slice loop outside the line loop (like Pulseq's demos), slice-select frequency offset
    ``G_z · z``; ``fat_sat``: a 3.5 ppm Gaussian pulse without gradient before each excitation.
    """
    import pypulseq as pp

    system = pp.Opts(max_grad=30, grad_unit="mT/m", max_slew=120, slew_unit="T/m/s", rf_dead_time=100e-6)
    seq = pp.Sequence(system)
    rf, gz, gzr = pp.make_sinc_pulse(
        flip_angle=math.radians(15), duration=2e-3, slice_thickness=5e-3, time_bw_product=4,
        system=system, return_gz=True, delay=system.rf_dead_time, use="excitation",
    )  # fmt: skip
    gx = pp.make_trapezoid(channel="x", flat_area=N / FOV, flat_time=0.8e-3, system=system)
    adc = pp.make_adc(num_samples=N, duration=gx.flat_time, delay=gx.rise_time, system=system)
    pre = pp.make_trapezoid(channel="x", area=-gx.area / 2, duration=0.6e-3, system=system)
    sat = pp.make_gauss_pulse(
        flip_angle=math.radians(90), duration=2e-3, freq_offset=-3.5e-6 * 42.576e6 * 3.0,
        system=system, delay=system.rf_dead_time, use="saturation",
    )  # fmt: skip
    for s in range(slices):
        rf.freq_offset = gz.amplitude * (s - (slices - 1) / 2) * SLICE_GAP_M
        for i in range(N):
            if fat_sat:
                seq.add_block(sat)
            gy = pp.make_trapezoid(channel="y", area=(i - N / 2) / FOV, duration=0.6e-3, system=system)
            seq.add_block(rf, gz)
            seq.add_block(pre, gy, gzr)
            extra = [pp.make_label(type="SET", label="SLC", value=s)] if labels else []
            extra += [pp.make_label(type="SET", label="LIN", value=i)] if labels else []
            seq.add_block(gx, adc, *extra)
            seq.add_block(pp.make_delay(1e-3))
    seq.set_definition("FOV", [FOV, FOV, 3e-3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seq.write(str(path))
    return path


def _info(obj: Readouts | Any) -> dict[str, Any]:
    """``meta["pulseq"]`` of attached readouts or sorted k-space."""
    return cast(dict[str, Any], obj.meta["pulseq"])


def _blank(seq: PulseqSequence, fov_mm: tuple[float, float, float]) -> Readouts:
    """Readouts of ones with the sequence's ADC layout (1 coil, minimal ISMRMRD headers)."""
    ev = seq.adc_events()
    xml = make_header_xml(
        encoded_matrix=(1, 1, 1), encoded_fov_mm=fov_mm, recon_matrix=(1, 1, 1), recon_fov_mm=fov_mm,
        limits={}, receiver_channels=1,
    )  # fmt: skip
    heads = np.zeros(len(ev), dtype=acquisition_header_dtype())
    heads["number_of_samples"] = ev.n_samples
    heads["active_channels"] = 1
    heads["scan_counter"] = np.arange(len(ev))
    samples = [np.full((1, int(n)), j + 1, np.complex64) for j, n in enumerate(ev.n_samples)]
    return Readouts(
        header=parse_header(xml),
        acquisitions=AcquisitionTable(heads),
        samples=samples,
        trajectories=[None] * len(ev),
        source=str(seq.path),
    )


@pytest.fixture(scope="module")
def gre(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PulseqSequence]:
    d = tmp_path_factory.mktemp("slices")
    return {
        "plain": read_seq(_write_multislice_gre(d / "plain.seq")),
        "labelled": read_seq(_write_multislice_gre(d / "labelled.seq", labels=True)),
        "fatsat": read_seq(_write_multislice_gre(d / "fatsat.seq", fat_sat=True, slices=3)),
        "single": read_seq(_write_multislice_gre(d / "single.seq", slices=1)),
    }


def test_unlabelled_two_slice_gre_gets_two_slices(gre: dict[str, PulseqSequence]) -> None:
    seq = gre["plain"]
    found = seq.excitation_slices()
    assert found is not None
    np.testing.assert_array_equal(found[0], np.repeat([0, 1], N))
    np.testing.assert_allclose(found[1], [-3e-3, 3e-3], atol=1e-7)
    out = attach_sequence(_blank(seq, (200.0, 200.0, 3.0)), seq)
    np.testing.assert_array_equal(out.acquisitions.headers["idx"]["slice"], np.repeat([0, 1], N))
    assert _info(out)["slices_inferred"] == {
        "slices": 2, "positions_mm": (-3.0, 3.0), "from": "rf frequency offset"
    }  # fmt: skip
    ks = sort_readouts(out)
    # Cartesian: two slices of N lines (before: the second slice was taken as a repetition)
    assert ks.other_axes == ("slice",) and tuple(ks.data.shape) == (2, 1, 1, N, N)
    assert ks.header.trajectory == "cartesian"
    # readout j carries the value j + 1: slice 1 holds readouts N+1 … 2N in line order
    np.testing.assert_array_equal(ks.data[1, 0, 0, :, 0].real.numpy(), np.arange(N + 1, 2 * N + 1))


def test_labelled_sequence_is_unchanged(gre: dict[str, PulseqSequence]) -> None:
    seq = gre["labelled"]
    out = attach_sequence(_blank(seq, (200.0, 200.0, 3.0)), seq)
    assert "slices_inferred" not in _info(out)
    np.testing.assert_array_equal(out.acquisitions.headers["idx"]["slice"], np.repeat([0, 1], N))
    assert tuple(sort_readouts(out).data.shape) == (2, 1, 1, N, N)


def test_fat_saturation_pulses_are_skipped(gre: dict[str, PulseqSequence]) -> None:
    found = gre["fatsat"].excitation_slices()
    assert found is not None
    np.testing.assert_array_equal(found[0], np.repeat([0, 1, 2], N))
    np.testing.assert_allclose(found[1], [-6e-3, 0.0, 6e-3], atol=1e-7)


def test_single_slice_and_non_selective_give_none(gre: dict[str, PulseqSequence]) -> None:
    assert gre["single"].excitation_slices() is None
    out = attach_sequence(_blank(gre["single"], (200.0, 200.0, 3.0)), gre["single"])
    assert "slices_inferred" not in _info(out)


def test_raw_slice_counters_are_kept(gre: dict[str, PulseqSequence]) -> None:
    seq = gre["plain"]
    raw = _blank(seq, (200.0, 200.0, 3.0))
    heads = raw.acquisitions.headers.copy()
    heads["idx"]["slice"] = np.tile([0, 1], N)  # the scanner's own counters win
    out = attach_sequence(raw.with_updates(acquisitions=AcquisitionTable(heads)), seq)
    np.testing.assert_array_equal(out.acquisitions.headers["idx"]["slice"], np.tile([0, 1], N))
    assert "slices_inferred" not in _info(out)


@pytest.mark.parametrize("version", ["v1.4", "v1.5"])
def test_koma_epi_three_slices(version: str) -> None:
    path = shared_data("koma_pulseq_read_comparison", version, "epi.seq")
    seq = read_seq(path)
    found = seq.excitation_slices()
    assert found is not None
    np.testing.assert_array_equal(found[0], np.repeat([0, 1, 2], 64))
    np.testing.assert_allclose(found[1], [-3e-3, 0.0, 3e-3], atol=1e-6)
    out = attach_sequence(_blank(seq, (220.0, 220.0, 3.0)), seq)
    ks = sort_readouts(out)
    # non-Cartesian (EPI): 3 slices of 64 readouts instead of 192 readouts in one k-space
    assert ks.header.trajectory == "epi"
    assert ks.other_axes == ("slice",) and tuple(ks.data.shape) == (3, 1, 1, 64, 64)
    assert _info(out)["slices_inferred"]["positions_mm"] == (-3.0, 0.0, 3.0)
    assert _info(ks)["slices_inferred"]["slices"] == 3


def test_koma_spiral_fat_sat_is_not_a_slice() -> None:
    seq = read_seq(shared_data("koma_pulseq_read_comparison", "v1.4", "spiral.seq"))
    assert seq.excitation_slices() is None

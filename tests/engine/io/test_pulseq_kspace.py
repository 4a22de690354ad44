"""The engine's Pulseq trajectory (exact gradient moment) against pypulseq and MATLAB Pulseq."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest

from recon_engine.io.pulseq import PulseqSequence, read_seq
from tests.conftest import shared_data

GAMMA = 42.576e6  # Hz/T: the KomaMRI .mat files store gradients in T/m


@pytest.mark.parametrize(
    "name", ["v1.3/gre.seq", "v1.4/epi.seq", "v1.4/spiral.seq", "v1.5/gre.seq", "v1.2/epi_JEMRIS.seq"]
)
def test_matches_pypulseq_where_pypulseq_is_right(name: str) -> None:
    seq = read_seq(shared_data("koma_pulseq_read_comparison", *name.split("/")))
    ours = seq.kspace_adc()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        theirs = np.asarray(seq.raw.calculate_kspace()[0]).T
    n = seq.adc_events().n_samples
    flat = np.concatenate([ours[j, : n[j]] for j in range(n.size)])
    assert flat.shape == theirs.shape
    assert float(np.abs(flat - theirs).max()) < 1e-6  # measured ≤ 1.4e-8 1/m


def _matlab_k(version: str) -> tuple[list[np.ndarray], PulseqSequence]:
    """k (x, y) in 1/m at the ADC samples from the MATLAB decoding, k = 0 at each excitation centre."""
    from scipy.io import loadmat

    path = shared_data("koma_pulseq_read_comparison", version, "spiral.mat")
    blocks = loadmat(path, squeeze_me=True, struct_as_record=False)["sequence"]
    seq = read_seq(path.with_suffix(".seq"))
    moments = []
    for axis in ("gx", "gy"):
        t = np.concatenate([np.atleast_1d(getattr(b, axis).t).astype(float) for b in blocks])
        g = np.concatenate([np.atleast_1d(getattr(b, axis).A).astype(float) * GAMMA for b in blocks])
        order = np.argsort(t, kind="stable")
        t, g = t[order], g[order]
        moments.append((t, np.concatenate(([0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(t))))))
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        t_exc = np.asarray(seq.raw.rf_times()[0])
    ev = seq.adc_events()
    out = []
    for j in range(len(ev)):
        times = ev.start_s[j] + (np.arange(ev.n_samples[j]) + 0.5) * ev.dwell_s[j]
        tc = t_exc[np.searchsorted(t_exc, times[0]) - 1]
        out.append(np.stack([np.interp(times, t, m) - np.interp(tc, t, m) for t, m in moments], axis=1))
    return out, seq


@pytest.mark.parametrize("version", ["v1.4", "v1.5"])
def test_spiral_trajectory_matches_the_matlab_decoding(version: str) -> None:
    # v1.5: 4 slices of one spiral each; pypulseq's calculate_kspace ramps from the end of one
    # spiral's rewinder to the first sample of the next spiral (first = 0 is dropped), so the
    # 2nd-4th spiral started at (7.6, 10.8) cycles per FOV instead of the centre
    ref, seq = _matlab_k(version)
    ours = seq.kspace_adc()
    for j, k in enumerate(ref):
        err = float(np.abs(ours[j, : k.shape[0], :2] - k).max())
        assert err < 0.1, f"ADC {j}: {err}"  # measured ≤ 0.076 1/m (linear interpolation of the .mat moment)
        assert float(np.abs(ours[j, 0, :2]).max()) < 0.01  # every spiral starts at the centre


def test_v15_spiral_slices_get_square_matrix_and_centred_trajectories() -> None:
    from recon_engine.io.pulseq import attach_sequence
    from tests.engine.io.test_pulseq_slices import _blank

    seq = read_seq(shared_data("koma_pulseq_read_comparison", "v1.5", "spiral.seq"))
    found = seq.excitation_slices()
    assert found is not None
    np.testing.assert_array_equal(found[0], [0, 1, 2, 3])
    out = attach_sequence(_blank(seq, (256.0, 256.0, 3.0)), seq)
    # 4 identical 64² spirals (before: "other", 78 × 84, from the off-centre trajectories)
    assert out.header.trajectory == "spiral" and out.header.recon_matrix == (64, 64, 1)
    for t in out.trajectories:
        assert t is not None and float(np.abs(t[0, :2]).max()) < 0.01

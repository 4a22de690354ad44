"""The MR fingerprinting raw sample (``qmri_raw_sample("mrf")``): layout, header, truth; the kind check."""

from __future__ import annotations

import numpy as np
import pytest

from recon_engine.errors import ParameterError
from recon_engine.simulate.qmri_raw import mrf_schedule
from recon_engine.simulate.sample_data import QMRI_MRF_SAMPLE, qmri_raw_sample

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_mrf_raw_sample() -> None:
    raw = qmri_raw_sample("mrf")
    ks = raw.kspace
    assert raw.kind == raw.model == "mrf" and QMRI_MRF_SAMPLE["trajectory"] == "radial"
    assert tuple(ks.data.shape) == (300, 8, 1, 1, 128) and ks.data.dtype.is_complex
    assert ks.other_axes == ("repetition",)
    assert ks.trajectory is not None and tuple(ks.trajectory.shape) == (300, 1, 1, 128, 3)
    # spokes through the centre, out to ±n/2 cycles per FOV, rotated from frame to frame
    k = ks.trajectory.numpy()[:, 0, 0]
    assert np.abs(k[..., 1:]).max() == pytest.approx(32.0, rel=0.02)
    assert not np.allclose(k[0], k[1])
    assert ks.header.tr_ms == (12.0,) and ks.header.ti_ms == (20.0,)
    np.testing.assert_allclose(ks.header.flip_angle_deg, mrf_schedule(300), rtol=1e-6)
    assert raw.truth["t1"].shape == (64, 64) and np.nanmax(raw.truth["t1"]) > 3000  # CSF
    assert ks.noise is not None and ks.meta["noise_std"] == 0.002
    # deterministic: the same bytes twice
    np.testing.assert_array_equal(qmri_raw_sample("mrf").kspace.data.numpy(), ks.data.numpy())


def test_unknown_qmri_raw_sample_lists_mrf() -> None:
    with pytest.raises(ParameterError, match="choose one of ir, molli, vfa, mese, mrf"):
        qmri_raw_sample("dwi")

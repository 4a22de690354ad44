"""The locally low-rank reconstruction method ``"llr"`` and its block SVT."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recon_engine.errors import ParameterError
from recon_engine.progress import run
from recon_engine.reconstructions import METHODS
from recon_engine.reconstructions.llr import block_svt
from recon_engine.simulate.qmri_raw import simulate_qmri_raw


def test_block_svt_zero_threshold_is_identity_and_low_rank_is_kept() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 20, 18, generator=g, dtype=torch.complex64)
    torch.testing.assert_close(block_svt(x, 0.0, 8, (3, 5)), x, rtol=1e-4, atol=1e-5)
    rank1 = torch.randn(5, 1, 1, generator=g, dtype=torch.complex64) * torch.randn(
        1, 16, 16, generator=g, dtype=torch.complex64
    )
    out = block_svt(rank1 + 0.01 * x[:, :16, :16], 0.5, 4)
    sv = torch.linalg.svdvals(out.reshape(5, -1))
    assert float(sv[1] / sv[0]) < 0.01  # the noise spread over the other components is removed
    assert float(block_svt(x, 1e6, 4).abs().max()) == 0.0
    with pytest.raises(ParameterError, match="block size"):
        block_svt(x, 0.1, 0)


def test_llr_reduces_error_against_sense_per_contrast(one_torch_thread: None) -> None:
    raw = simulate_qmri_raw("ir", n=48, acceleration=6, noise_std=0.004, calibration_lines=6)
    truth = torch.from_numpy(raw.images)
    kw = {"maps": raw.maps_for_recon, "device": "cpu"}
    sense = run(METHODS["sense"](raw.kspace, iterations=20, **kw)).data[:, 0, 0]
    llr = run(METHODS["llr"](raw.kspace, iterations=40, regularization_weight=0.02, **kw))
    assert llr.meta["method"] == "llr"
    img = llr.data[:, 0, 0]
    inside = torch.from_numpy(raw.truth["pd"] > 0)

    def nrmse(x: torch.Tensor) -> float:
        return float((x - truth)[:, inside].norm() / truth[:, inside].norm())

    assert nrmse(img) < 0.8 * nrmse(sense)
    assert np.isfinite(img.numpy()).all()

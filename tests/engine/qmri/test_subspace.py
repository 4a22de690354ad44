"""Subspace and PnP mapping from raw data."""

from __future__ import annotations

import numpy as np
import pytest

from recon_engine.progress import run
from recon_engine.qmri._prepare import resolve_options
from recon_engine.qmri.model_based import map_raw_steps
from recon_engine.qmri.models import get_model
from recon_engine.qmri.subspace import identity_denoiser, pnp_steps, subspace_basis, subspace_steps
from recon_engine.simulate.qmri_raw import QMRIRaw, simulate_qmri_raw, tissue_masks


def _err(raw: QMRIRaw, t1: np.ndarray) -> float:
    m = tissue_masks(raw.truth["labels"])
    sel = m["wm"] | m["gm"]
    return float(np.nanmedian(np.abs(t1[sel] - raw.truth["t1"][sel]) / raw.truth["t1"][sel]))


def test_basis_is_orthonormal_and_rank_follows_energy() -> None:
    spec = get_model("ir")
    x = np.array([50.0, 150.0, 300.0, 600.0, 1000.0, 1600.0, 2500.0, 4000.0])
    opts = resolve_options(spec, {})
    u, kept = subspace_basis(spec, x, opts, energy=0.999)
    assert 2 <= u.shape[1] <= 5
    assert kept >= 0.999
    np.testing.assert_allclose(u.T @ u, np.eye(u.shape[1]), atol=1e-5)
    u8, kept8 = subspace_basis(spec, x, opts, rank=8)
    assert u8.shape == (8, 8) and kept8 == pytest.approx(1.0)


def test_full_rank_subspace_equals_two_step_on_fully_sampled_data(one_torch_thread: None) -> None:
    raw = simulate_qmri_raw("ir", n=32, acceleration=1, noise_std=0.002)
    kw = {"maps": raw.maps_for_recon, "device": "cpu"}
    two = run(map_raw_steps(raw.kspace, "ir", "two-step", sense_iterations=10, **kw))
    sub = run(subspace_steps(raw.kspace, "ir", rank=8, iterations=10, **kw))
    assert sub.options["rank"] == 8
    np.testing.assert_array_equal(sub.mask, two.mask)
    t_two, t_sub = two.maps["t1"][two.mask], sub.maps["t1"][sub.mask]
    assert np.nanmax(np.abs(t_sub - t_two) / t_two) < 1e-3


@pytest.fixture(scope="module")
def ir_r8() -> QMRIRaw:
    return simulate_qmri_raw("ir", n=48, acceleration=8, noise_std=0.004, calibration_lines=6)


def test_llr_reduces_error_against_plain_subspace_at_high_r(ir_r8: QMRIRaw) -> None:
    kw = {"maps": ir_r8.maps_for_recon, "device": "cpu", "iterations": 30}
    plain = run(subspace_steps(ir_r8.kspace, "ir", **kw))
    llr = run(subspace_steps(ir_r8.kspace, "ir", regularization="llr", regularization_weight=0.02, **kw))
    assert llr.options["regularization"] == "llr"
    assert _err(ir_r8, llr.maps["t1"]) < 0.85 * _err(ir_r8, plain.maps["t1"])


def test_pnp_with_identity_denoiser_equals_subspace_cg() -> None:
    raw = simulate_qmri_raw("ir", n=32, acceleration=4, noise_std=0.002)
    kw = {"maps": raw.maps_for_recon, "device": "cpu", "rank": 4, "max_iterations": 30}
    cg = run(subspace_steps(raw.kspace, "ir", iterations=100, **kw))
    pnp = run(
        pnp_steps(
            raw.kspace,
            "ir",
            denoiser=identity_denoiser,
            penalty=0.01,
            iterations=40,
            inner_iterations=10,
            **kw,
        )
    )
    assert pnp.options["method"] == "pnp" and pnp.options["denoiser"] == "identity_denoiser"
    sel = cg.mask & pnp.mask & tissue_masks(raw.truth["labels"])["wm"]
    rel = np.abs(pnp.maps["t1"][sel] - cg.maps["t1"][sel]) / cg.maps["t1"][sel]
    assert np.median(rel) < 2e-3

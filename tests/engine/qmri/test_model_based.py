"""Model-based mapping from raw data (IRGNM, L-BFGS) and the Jacobians of every signal model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recon_engine.errors import ParameterError
from recon_engine.progress import ProgressEvent, run
from recon_engine.qmri._model import signal_and_jacobian
from recon_engine.qmri._prepare import resolve_options
from recon_engine.qmri.model_based import map_raw_steps, model_based_steps
from recon_engine.qmri.models import MODEL_NAMES, get_model
from recon_engine.simulate.qmri_raw import QMRIRaw, simulate_qmri_raw, tissue_masks

_X = {
    "ir": [50.0, 300.0, 1000.0, 3000.0], "sr": [50.0, 300.0, 1000.0, 3000.0],
    "molli": [100.0, 1100.0, 180.0, 2100.0], "t2": [10.0, 30.0, 60.0, 120.0],
    "t2star": [5.0, 10.0, 20.0, 40.0], "vfa": [2.0, 5.0, 10.0, 15.0],
    "mese": [10.0, 20.0, 30.0, 40.0, 50.0], "mrf": [10.0, 30.0, 50.0, 20.0, 5.0, 40.0],
}  # fmt: skip
_OPTS = {"vfa": {"tr": 15.0}, "mese": {"echo_spacing": 10.0}, "mrf": {"tr": 12.0, "n_states": 16}}
_THETA = {"mese": [60.0, 0.9], "mrf": [900.0, 80.0]}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_jacobian_matches_finite_differences(name: str) -> None:
    spec = get_model(name)
    opts = resolve_options(spec, dict(_OPTS.get(name, {})))
    x = torch.tensor(_X[name], dtype=torch.float64)
    theta = torch.tensor([_THETA.get(name, [800.0])], dtype=torch.float64)
    n_lin = len(spec.linear)
    coef = torch.tensor([[1.0, 1.9][:n_lin]], dtype=torch.float64)
    s, jac = signal_and_jacobian(spec, theta, coef, x, opts, {})

    def signal(th: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return torch.einsum("vnl,vl->vn", spec.basis(th, x, opts, {}), c)

    torch.testing.assert_close(s, signal(theta, coef), rtol=1e-10, atol=1e-12)
    for i in range(n_lin):
        dc = torch.zeros_like(coef)
        dc[0, i] = 1.0
        torch.testing.assert_close(jac[i], signal(theta, dc), rtol=1e-9, atol=1e-12)
    for k in range(theta.shape[1]):
        h = 1e-5 * float(theta[0, k])
        step = torch.zeros_like(theta)
        step[0, k] = h
        fd = (signal(theta + step, coef) - signal(theta - step, coef)) / (2 * h)
        # analytic Jacobians to 1e-4; EPG models use central differences of 1e-3 (relative) themselves
        tol = 1e-4 if spec.jacobian is not None else 2e-3
        torch.testing.assert_close(jac[n_lin + k], fd, rtol=tol, atol=tol * 1e-3 * float(fd.abs().max()))


@pytest.fixture(scope="module")
def ir_r4() -> QMRIRaw:
    return simulate_qmri_raw("ir", n=32, acceleration=4, noise_std=0.0, calibration_lines=6)


def _median_error(raw: QMRIRaw, t1: np.ndarray, tissue: str) -> float:
    m = tissue_masks(raw.truth["labels"])[tissue]
    return float(np.nanmedian(np.abs(t1[m] - raw.truth["t1"][m]) / raw.truth["t1"][m]))


def test_model_based_recovers_noise_free_maps_at_r4(ir_r4: QMRIRaw, one_torch_thread: None) -> None:
    events: list[ProgressEvent] = []
    res = run(
        model_based_steps(ir_r4.kspace, "ir", maps=ir_r4.maps_for_recon, prewhitening=False, device="cpu"),
        events.append,
    )
    two = run(
        map_raw_steps(
            ir_r4.kspace, "ir", "two-step", maps=ir_r4.maps_for_recon, prewhitening=False, device="cpu"
        )
    )
    assert res.options["method"] == "model-based"
    assert res.maps["t1"].shape == (32, 32)
    for tissue in ("wm", "gm"):
        assert _median_error(ir_r4, res.maps["t1"], tissue) < 0.01
        assert _median_error(ir_r4, res.maps["t1"], tissue) < 0.5 * _median_error(
            ir_r4, two.maps["t1"], tissue
        )
    # CSF (T1 = 4000 ms = the longest TI) converges more slowly
    assert _median_error(ir_r4, res.maps["t1"], "csf") < 0.08
    mb = [e for e in events if e.stage == "model-based"]
    assert len(mb) == 12
    assert mb[-1].preview is not None and mb[-1].preview.shape == (32, 32)
    assert mb[-1].metrics["cost"] < mb[0].metrics["cost"]
    _, curve = res.curve((16, 12))
    assert np.isfinite(curve).all()


def test_lbfgs_lowers_the_cost(ir_r4: QMRIRaw) -> None:
    events: list[ProgressEvent] = []
    res = run(
        model_based_steps(
            ir_r4.kspace, "ir", maps=ir_r4.maps_for_recon, prewhitening=False, device="cpu", solver="lbfgs",
            iterations=3, inner_iterations=10,
        ),
        events.append,
    )  # fmt: skip
    costs = [e.metrics["cost"] for e in events if e.stage == "model-based"]
    assert costs[-1] < costs[0]
    assert res.options["solver"] == "lbfgs"
    assert _median_error(ir_r4, res.maps["t1"], "wm") < 0.05


def test_model_based_errors(ir_r4: QMRIRaw) -> None:
    with pytest.raises(ParameterError, match="solver"):
        run(model_based_steps(ir_r4.kspace, "ir", solver="newton"))
    with pytest.raises(ParameterError, match="mapping method"):
        run(map_raw_steps(ir_r4.kspace, "ir", "magic"))
    with pytest.raises(ParameterError, match="TI value per contrast"):
        run(model_based_steps(ir_r4.kspace, "ir", times=[1.0, 2.0], maps=ir_r4.maps_for_recon))

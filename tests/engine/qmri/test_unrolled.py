"""The relaxometry-guided unrolled network and its mapping method (``"learned"``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recon_engine.errors import ParameterError
from recon_engine.learned.modl_net import MoDLNet
from recon_engine.learned.relax_net import (
    RELAX_WEIGHTS,
    RelaxNet,
    load_relax_net,
    simulate_ir_training_batch,
)
from recon_engine.learned.relax_train import ir_projector, train_relax_steps
from recon_engine.learned.weights import read_weights, save_model
from recon_engine.progress import ProgressEvent, run
from recon_engine.qmri._raw import contrast_problem_steps, sense_images
from recon_engine.qmri.model_based import two_step_raw_steps
from recon_engine.qmri.unrolled import unrolled_steps
from recon_engine.simulate.qmri_raw import QMRIRaw, simulate_qmri_raw, tissue_masks

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny(**kw: object) -> RelaxNet:
    args: dict[str, object] = {
        "features": 4,
        "depth": 2,
        "unrolls": 2,
        "cg_iterations": 2,
        "start_iterations": 2,
    }
    args.update(kw)
    return RelaxNet(**args)  # type: ignore[arg-type]


def test_gradient_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    net = _tiny()
    batch = simulate_ir_training_batch(np.random.default_rng(0), 2, 16)
    out = net(batch.normal, batch.rhs, ir_projector())
    loss = (out - batch.truth).abs().square().sum()
    loss.backward()  # type: ignore[no-untyped-call]
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert float(p.grad.abs().max()) > 0, name


def test_identity_unroll_equals_joint_cg_sense() -> None:
    raw = simulate_qmri_raw("ir", n=32, acceleration=4, noise_std=0.002)
    problem = run(contrast_problem_steps(raw.kspace, maps=raw.maps_for_recon, device="cpu"))
    net = RelaxNet(unrolls=1, cg_iterations=10, start_iterations=0, cnn=False, model_step=False)
    with torch.no_grad():
        net.log_lambda.fill_(-60.0)  # λ ≈ 1e-26: plain SENSE
        out = net(lambda v: problem.normal(v[0])[None], problem.rhs[None], ir_projector())[0]
    ref = run(sense_images(problem, iterations=10))
    rel = float((out - ref).norm() / ref.norm())
    assert rel < 2e-4, rel


def test_same_seed_same_training_and_output(tmp_path: Path) -> None:
    kw = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 1, "size": 16, "validation_size": 1, "seed": 3}
    arch = {"features": 4, "depth": 2, "unrolls": 2, "cg_iterations": 2, "start_iterations": 2}
    a = run(train_relax_steps(output=tmp_path / "a.pt", **kw, **arch))  # type: ignore[arg-type]
    b = run(train_relax_steps(**kw, **arch))  # type: ignore[arg-type]
    for (name, pa), (_, pb) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name
    batch = simulate_ir_training_batch(np.random.default_rng(9), 1, 16)
    with torch.no_grad():
        ya = a.model(batch.normal, batch.rhs, ir_projector())
        yb = b.model(batch.normal, batch.rhs, ir_projector())
    assert torch.equal(ya, yb)
    loaded, meta = load_relax_net(tmp_path / "a.pt")
    assert meta["seed"] == 3 and meta["model"] == "ir" and len(meta["history"]) == 1
    with torch.no_grad():
        assert torch.equal(loaded(batch.normal, batch.rhs, ir_projector()), ya)


@pytest.fixture(scope="module")
def unseen_ir() -> QMRIRaw:
    # a seed no training or figure uses, at a matrix the training never saw
    return simulate_qmri_raw("ir", n=40, acceleration=6, noise_std=0.003, calibration_lines=8, seed=11)


def test_shipped_weights_map_unseen_ir_data(unseen_ir: QMRIRaw) -> None:
    assert RELAX_WEIGHTS.is_file() and RELAX_WEIGHTS.stat().st_size < 1_000_000
    blob = torch.load(RELAX_WEIGHTS, map_location="cpu", weights_only=True)
    assert blob["architecture"]["kind"] == "relax"
    events: list[ProgressEvent] = []
    res = run(
        unrolled_steps(unseen_ir.kspace, "ir", maps=unseen_ir.maps_for_recon, device="cpu"), events.append
    )
    unrolls = [e for e in events if e.stage == "unrolled"]
    assert len(unrolls) == blob["architecture"]["unrolls"]
    assert unrolls[-1].preview is not None and unrolls[-1].preview.shape == (40, 40)
    assert res.options["method"] == "learned" and res.options["weights"] == "builtin"
    m = tissue_masks(unseen_ir.truth["labels"])
    sel = m["wm"] | m["gm"]
    t1, ref = res.maps["t1"][sel], unseen_ir.truth["t1"][sel]
    err = float(np.nanmedian(np.abs(t1 - ref) / ref))
    assert err < BOUND_WM_GM, err


#: Bound on the median relative T1 error in WM+GM of the shipped weights on ``unseen_ir`` (measured 0.033;
#: model-based IRGNM 0.018, two-step 0.076 on the same data).
BOUND_WM_GM = 0.05


def test_weights_of_another_architecture_are_a_clear_error(tmp_path: Path, unseen_ir: QMRIRaw) -> None:
    modl = save_model(tmp_path / "modl.pt", MoDLNet(features=4, depth=2, unrolls=1, cg_iterations=1))
    with pytest.raises(ParameterError, match=r"'modl' network.*'relax' weights"):
        load_relax_net(modl)
    with pytest.raises(ParameterError, match="'modl' network"):
        run(
            unrolled_steps(
                unseen_ir.kspace, "ir", weights=str(modl), maps=unseen_ir.maps_for_recon, device="cpu"
            )
        )
    # a relax file whose tensors do not fit its architecture (features 8 claimed, 4 stored)
    small = save_model(tmp_path / "small.pt", _tiny())
    blob = read_weights(small)
    blob["architecture"]["features"] = 8
    torch.save(blob, tmp_path / "bad.pt")
    with pytest.raises(ParameterError, match="other shapes than the architecture"):
        load_relax_net(tmp_path / "bad.pt")
    # the right kind, another number of contrasts than the data
    six = save_model(tmp_path / "six.pt", _tiny(n_contrasts=6), {"model": "ir"})
    with pytest.raises(ParameterError, match="takes 6 contrasts; these data have 8"):
        run(
            unrolled_steps(
                unseen_ir.kspace, "ir", weights=str(six), maps=unseen_ir.maps_for_recon, device="cpu"
            )
        )


def test_voxels_outside_the_coil_support_stay_empty() -> None:
    # ESPIRiT maps from the calibration lines are zero outside the object: AᴴA has a null space
    # there that CG cannot correct, so the network must not fill it (it once mapped T1 = 20000 ms)
    raw = simulate_qmri_raw("ir", n=32, acceleration=6, noise_std=0.003, seed=3)
    two = run(two_step_raw_steps(raw.kspace, "ir", device="cpu"))
    res = run(unrolled_steps(raw.kspace, "ir", device="cpu"))
    np.testing.assert_array_equal(res.mask, two.mask)
    wm = tissue_masks(raw.truth["labels"])["wm"]

    def err(t1: np.ndarray) -> float:
        return float(np.nanmedian(np.abs(t1[wm] - raw.truth["t1"][wm]) / raw.truth["t1"][wm]))

    # measured: learned 0.158, two-step 0.182 (every method is poor with these estimated maps);
    # before the support mask the learned WM error was 4.5
    assert err(res.maps["t1"]) < 1.5 * err(two.maps["t1"])

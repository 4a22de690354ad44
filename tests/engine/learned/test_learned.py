"""recon_engine.learned: shipped denoiser, weights checks, training, MoDL gradients, ``mrrecon train``."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from recon_engine.cli import main
from recon_engine.errors import FileFormatError, ParameterError
from recon_engine.learned import (
    WEIGHTS_DIR,
    DnCNN,
    MoDLNet,
    denoise,
    load_model,
    read_weights,
    save_model,
    textured_phantom,
    train_denoiser_steps,
)
from recon_engine.learned.data import sense_normal, simulate_batch
from recon_engine.metrics import nrmse
from recon_engine.progress import ProgressEvent, run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1])
def test_shipped_denoiser_reduces_nrmse(sigma: float) -> None:
    """Held-out phantoms (a seed the training never drew): NRMSE at least 25 % lower at every level.

    Measured (shipped DnCNN 10 × 48): σ = 0.02 0.084 → 0.044, 0.05 0.210 → 0.078, 0.1 0.419 → 0.123
    (means of 3 images).
    """
    rng = np.random.default_rng(12345)
    before, after = [], []
    for _ in range(3):
        clean = textured_phantom(64, rng)
        noisy = clean + sigma * (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape))
        # denoise() scales by the 99th percentile of the noisy image: σ relative to it
        from recon_engine.learned.data import normalise

        _, s = normalise(noisy)
        out = denoise(noisy, sigma / s)
        before.append(nrmse(noisy, clean))
        after.append(nrmse(out, clean))
    print(f"σ={sigma}: NRMSE {np.mean(before):.4f} → {np.mean(after):.4f}")
    assert np.mean(after) < 0.75 * np.mean(before)


def test_shipped_weights_are_small_and_safe() -> None:
    for name in ("denoiser.pt", "modl.pt"):
        p = WEIGHTS_DIR / name
        assert p.stat().st_size < 2_000_000
        blob = read_weights(p)  # weights_only load
        assert "optimizer" not in blob["meta"] and "input_scaling" in blob["meta"]


def test_weights_of_another_architecture_are_a_clear_error(tmp_path: Path) -> None:
    p = save_model(tmp_path / "small.pt", DnCNN(8, 3))
    model, _ = load_model(p, "dncnn")
    assert isinstance(model, DnCNN) and model.features == 8
    with pytest.raises(ParameterError, match="'dncnn' network, but a 'modl' network is needed"):
        load_model(p, "modl")
    # architecture dict says 16 features, tensors are of 8: shapes named
    blob = torch.load(p, weights_only=True)
    blob["architecture"]["features"] = 16
    torch.save(blob, tmp_path / "lying.pt")
    with pytest.raises(ParameterError, match="other shapes than the architecture"):
        load_model(tmp_path / "lying.pt", "dncnn")
    blob["architecture"]["features"] = 8
    blob["state_dict"].pop("body.0.bias")
    torch.save(blob, tmp_path / "missing.pt")
    with pytest.raises(ParameterError, match=r"missing \['body.0.bias'\]"):
        load_model(tmp_path / "missing.pt", "dncnn")
    # a pickle that would run code, and a file of another program
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Path("x")))
    with pytest.raises(FileFormatError, match="loads safely"):
        load_model(tmp_path / "evil.pt", "dncnn")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(FileFormatError, match="not a recon_engine weights file"):
        load_model(tmp_path / "other.pt", "dncnn")


def _tiny_run(
    tmp: Path, epochs: int, resume: Path | None = None, name: str = "w.pt"
) -> tuple[list[dict[str, float]], dict[str, torch.Tensor]]:
    result = run(
        train_denoiser_steps(
            epochs=epochs,
            steps_per_epoch=6,
            batch_size=4,
            size=32,
            features=8,
            depth=3,
            learning_rate=3e-3,
            seed=7,
            output=tmp / name,
            resume=resume,
            validation_images=2,
        )
    )
    return result.history, result.model.state_dict()


def test_training_lowers_the_loss_deterministic_and_resumable(tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    run(
        train_denoiser_steps(
            epochs=1,
            steps_per_epoch=30,
            batch_size=4,
            size=32,
            features=8,
            depth=3,
            learning_rate=1e-2,
            seed=1,
            validation_images=2,
            sigma_range=(0.05, 0.05),
        ),
        events.append,
    )
    losses = [e.metrics["loss"] for e in events if not e.stage.startswith("validation")]
    assert len(losses) == 30 and np.mean(losses[-8:]) < 0.95 * np.mean(losses[:8])  # measured 0.91
    _full, w_full = _tiny_run(tmp_path, 2, name="full.pt")
    interrupted = train_denoiser_steps(
        epochs=2,
        steps_per_epoch=6,
        batch_size=4,
        size=32,
        features=8,
        depth=3,
        learning_rate=3e-3,
        seed=7,
        output=tmp_path / "half.pt",
        validation_images=2,
    )
    for event in interrupted:  # Stop after the first epoch's checkpoint
        if event.stage.startswith("validation"):
            interrupted.close()
            break
    assert read_weights(tmp_path / "half.pt")["meta"]["epoch"] == 1
    resumed, w_res = _tiny_run(tmp_path, 2, resume=tmp_path / "half.pt", name="half.pt")
    assert len(resumed) == 2
    for k, v in w_full.items():
        assert torch.equal(v, w_res[k]), k  # same seed, one thread: bit for bit


def test_modl_gradient_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = torch.from_numpy(np.stack([textured_phantom(32, rng) for _ in range(2)]))
    acq = simulate_batch(images, rng, accelerations=(4.0,), calibration=(16,))
    normal, adjoint = sense_normal(acq.maps, acq.mask)
    net = MoDLNet(features=8, depth=3, unrolls=2, cg_iterations=3)
    rhs = adjoint(acq.data)
    out = net(normal, rhs, rhs)
    ((out - acq.truth).abs() ** 2).mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


def test_mrrecon_train_end_to_end_on_npy_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "images"
    data.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):
        np.save(data / f"im{i}.npy", np.abs(textured_phantom(40, rng)).astype(np.float32))
    out = tmp_path / "den.pt"
    args = ["train", "denoiser", "--data", str(data), "--epochs", "1", "--steps", "2", "--batch-size", "2"]
    assert main([*args, "--size", "32", "--features", "8", "--depth", "3", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "epoch 1: loss" in err and "validation NRMSE" in err
    _model, meta = load_model(out, "dncnn")
    assert meta["epoch"] == 1 and str(data) in meta["training_data"]
    assert main(["train", "modl", "--data", str(tmp_path / "nothing*"), "-o", str(out), "-q"]) == 2

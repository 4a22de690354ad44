"""Training inputs and stopping: arrays in memory, ``train_steps`` by name, a checkpoint on Stop.

A stopped run (the generator closed between two steps, as the napari Runner does on Stop)
writes its weights, optimiser and random state; resuming from it gives the same weights, bit
for bit on one CPU thread, as a run that never stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from recon_engine.errors import DataError, ParameterError
from recon_engine.learned import (
    images_from_arrays,
    load_model,
    read_weights,
    textured_phantom,
    train_steps,
    trained_weights,
)
from recon_engine.progress import run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY: dict[str, Any] = {"size": 32, "features": 8, "depth": 3, "seed": 5, "validation_images": 2}


@pytest.fixture(scope="module")
def arrays() -> list[np.ndarray]:
    """A 40² magnitude image and a complex 3-slice 32² stack (as napari layers hold them)."""
    rng = np.random.default_rng(11)
    return [
        50.0 * np.abs(textured_phantom(40, rng)).astype(np.float32),
        np.stack([textured_phantom(32, rng) for _ in range(3)]),
    ]


def test_images_from_arrays_planes_and_errors(arrays: list[np.ndarray]) -> None:
    images = images_from_arrays(arrays)
    assert [im.shape for im in images] == [(40, 40)] + [(32, 32)] * 3
    assert all(im.dtype == np.complex64 for im in images)
    np.testing.assert_allclose(images[0].real, arrays[0], rtol=1e-6)
    # one-readout volume (z, y, 1): its (z, y) plane, as the networks see BART's pics brain
    assert images_from_arrays([np.ones((20, 24, 1))])[0].shape == (20, 24)
    with pytest.raises(DataError, match="NaN or Inf"):
        images_from_arrays([np.full((32, 32), np.nan)])
    with pytest.raises(DataError, match="at least 16 × 16"):
        images_from_arrays([np.ones((8, 8)), np.zeros((32, 32))])
    with pytest.raises(DataError, match="≥ 2 axes"):
        images_from_arrays([np.ones(64)])


@pytest.mark.parametrize("model", ["denoiser", "modl"])
def test_training_on_arrays(arrays: list[np.ndarray], model: str, tmp_path: Path) -> None:
    extra = {"unrolls": 2, "cg_iterations": 3, "batch_size": 2} if model == "modl" else {"batch_size": 4}
    out = tmp_path / f"{model}.pt"
    result = run(train_steps(model, data=arrays, epochs=1, steps_per_epoch=3, output=out, **TINY, **extra))
    (record,) = result.history
    assert np.isfinite(record["loss"]) and 0 < record["val_nrmse"] < 1
    assert "2 arrays in memory" in result.meta["training_data"]
    _net, meta = load_model(out, "dncnn" if model == "denoiser" else "modl")
    assert meta["epoch"] == 1 and meta["step"] == 0
    assert trained_weights()[0] == out.absolute()


def test_train_steps_rejects_unknown_model_and_option() -> None:
    with pytest.raises(ParameterError, match="unknown model to train 'unet'"):
        train_steps("unet")
    with pytest.raises(ParameterError, match=r"takes no option \['unrolls'\]"):
        train_steps("denoiser", unrolls=3)
    with pytest.raises(DataError, match="empty list"):
        run(train_steps("denoiser", data=[], epochs=1, steps_per_epoch=1, **TINY))


def _denoiser(arrays: list[np.ndarray], output: Path, resume: Path | None = None) -> Any:
    return train_steps(
        "denoiser",
        data=arrays,
        epochs=2,
        steps_per_epoch=4,
        batch_size=2,
        learning_rate=3e-3,
        output=output,
        resume=resume,
        **TINY,
    )


def test_stop_mid_epoch_keeps_a_checkpoint_that_resumes_exactly(
    arrays: list[np.ndarray], tmp_path: Path
) -> None:
    full = run(_denoiser(arrays, tmp_path / "full.pt")).model.state_dict()
    gen = _denoiser(arrays, tmp_path / "stopped.pt")
    for event in gen:  # Stop after step 6 of 8: epoch 1 done, 2 steps into epoch 2
        if event.iteration == 6:
            gen.close()
            break
    blob = read_weights(tmp_path / "stopped.pt")
    meta = blob["meta"]
    assert (meta["epoch"], meta["step"], meta["stopped"]) == (1, 2, True)
    assert len(meta["history"]) == 1 and len(meta["partial"]["losses"]) == 2
    load_model(tmp_path / "stopped.pt", "dncnn")  # loadable as pnp weights
    resumed = run(_denoiser(arrays, tmp_path / "stopped.pt", resume=tmp_path / "stopped.pt"))
    assert [h["epoch"] for h in resumed.history] == [1.0, 2.0]
    for k, v in full.items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    # stopped after its first step of all: that step is kept
    gen = _denoiser(arrays, tmp_path / "never.pt")
    next(gen)
    gen.close()
    assert read_weights(tmp_path / "never.pt")["meta"]["step"] == 1


def test_mrrecon_train_ctrl_c_keeps_the_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import sys

    from recon_engine.cli import main

    class Interrupting(io.StringIO):
        """stderr whose 4th progress write is a Ctrl-C (outside the training generator)."""

        writes = 0

        def write(self, text: str) -> int:
            if text.startswith("\r["):
                Interrupting.writes += 1
                if Interrupting.writes == 4:
                    raise KeyboardInterrupt
            return super().write(text)

    err = Interrupting()
    monkeypatch.setattr(sys, "stderr", err)
    out = tmp_path / "ctrl_c.pt"
    args = ["train", "denoiser", "--epochs", "3", "--steps", "5", "--batch-size", "2", "--size", "32"]
    assert main([*args, "--features", "8", "--depth", "3", "-o", str(out)]) == 130
    meta = read_weights(out)["meta"]
    assert (meta["epoch"], meta["step"]) == (0, 4)  # 4 steps done when the 4th bar line was cut
    assert f"continue with --resume {out}" in err.getvalue()

"""``mrrecon recon --method pnp|modl --weights PATH`` and the other options of the learned methods."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import recon_engine as mr
from recon_engine.cli import main
from recon_engine.learned import DnCNN, save_model
from recon_engine.progress import run
from recon_engine.recipe import load_recipe
from recon_engine.reconstructions import pnp_steps

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def raw(tmp_path: Path, ismrmrd_tool: Callable[..., Path]) -> Path:
    """Shepp-Logan 64², 4 coils, R = 2 with 16 calibration lines."""
    return ismrmrd_tool(tmp_path, "-m", "64", "-c", "4", "-a", "2", "-w", "16")


def test_recon_pnp_with_weights_file_matches_the_engine_and_records_the_recipe(
    raw: Path, tmp_path: Path
) -> None:
    weights = save_model(tmp_path / "den.pt", DnCNN(8, 3))  # untrained: the point is the plumbing
    out, recipe = tmp_path / "img.npy", tmp_path / "r.yaml"
    args = ["recon", str(raw), "--method", "pnp", "--weights", str(weights), "--iterations", "2"]
    args += ["--algorithm", "hqs", "--penalty", "0.7", "--sigma-start", "0.04", "--cg-iterations", "3"]
    args += ["--coil-maps", "walsh", "--device", "cpu", "-q", "-o", str(out), "--save-recipe", str(recipe)]
    assert main(args) == 0
    expected = run(
        pnp_steps(
            mr.read(raw),
            weights=str(weights),
            iterations=2,
            algorithm="hqs",
            penalty=0.7,
            sigma_start=0.04,
            cg_iterations=3,
            coil_maps="walsh",
            device="cpu",
        )
    ).numpy()
    got = np.load(out)
    np.testing.assert_allclose(got, np.squeeze(expected), rtol=0, atol=1e-4 * np.abs(expected).max())
    options = load_recipe(recipe).options
    assert options["weights"] == str(weights) and options["penalty"] == 0.7 and options["algorithm"] == "hqs"


def test_recon_learned_option_errors_exit_2(
    raw: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = save_model(tmp_path / "den.pt", DnCNN(8, 3))
    out = str(tmp_path / "img.npy")
    base = ["recon", str(raw), "--device", "cpu", "-q", "-o", out, "--coil-maps", "walsh"]
    assert main([*base, "--method", "modl", "--weights", str(weights)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "'dncnn' network, but a 'modl' network is needed" in err
    assert main([*base, "--method", "sense", "--weights", str(weights)]) == 2
    assert "method 'sense' has no option --weights" in capsys.readouterr().err
    assert main([*base, "--method", "pnp", "--weights", str(tmp_path / "nothing.pt")]) == 2
    assert "no such weights file" in capsys.readouterr().err
    assert main([*base, "--method", "modl", "--unrolls", "1"]) == 0  # built-in MoDL weights, one block
    modl = np.load(out)
    assert modl.shape[-2:] == (64, 64) and np.isfinite(modl).all() and np.abs(modl).max() > 0

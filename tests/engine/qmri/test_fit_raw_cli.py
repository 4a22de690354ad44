"""``mrrecon fit RAW.h5 --method model-based`` end to end on a tiny simulated raw IR file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from recon_engine.cli import main
from recon_engine.io.ismrmrd_write import write_ismrmrd
from recon_engine.simulate.qmri_raw import simulate_qmri_raw, tissue_masks


def test_fit_raw_model_based_end_to_end(tmp_path: Path) -> None:
    raw = simulate_qmri_raw("ir", n=32, acceleration=3, noise_std=0.001, calibration_lines=10)
    path = tmp_path / "ir.h5"
    write_ismrmrd(raw.kspace, path)
    out, recipe = tmp_path / "maps.npz", tmp_path / "fit.yaml"
    rc = main(
        [
            "fit", str(path), "--model", "ir", "--method", "model-based", "-M", "iterations=6",
            "--device", "cpu", "--save-recipe", str(recipe), "-o", str(out), "-q",
        ]
    )  # fmt: skip
    assert rc == 0
    maps = np.load(out)
    wm = tissue_masks(raw.truth["labels"], erode=2)["wm"]
    t1 = maps["t1"][wm]
    assert abs(float(np.nanmedian(t1)) - 830.0) / 830.0 < 0.05  # ESPIRiT maps from the data
    doc = yaml.safe_load(recipe.read_text())
    assert doc["fit"]["method"] == "model-based"
    assert doc["fit"]["model"] == "ir"
    assert doc["fit"]["method_options"] == {"iterations": 6}
    assert len(doc["input"]["sha256"]) == 64


def test_fit_raw_unknown_method_exits_2(tmp_path: Path, capsys: object) -> None:
    raw = simulate_qmri_raw("ir", n=16, acceleration=2, noise_std=0.001)
    path = tmp_path / "ir.h5"
    write_ismrmrd(raw.kspace, path)
    rc = main(["fit", str(path), "--model", "ir", "--method", "magic", "-o", str(tmp_path / "m.npz")])
    assert rc == 2

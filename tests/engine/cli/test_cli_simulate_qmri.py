"""``mrrecon simulate --qmri KIND`` writes multi-contrast raw data that ``mrrecon fit --method`` maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import recon_engine
from recon_engine.cli import main
from recon_engine.errors import ParameterError
from recon_engine.simulate.qmri_raw import simulate_qmri_raw, tissue_masks, write_qmri_raw


def test_simulate_qmri_ir_then_fit_model_based(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw_path, maps = tmp_path / "ir.h5", tmp_path / "maps.npz"
    args = ["--qmri", "ir", "--matrix", "32", "--acceleration", "3", "--coils", "6", "-o", str(raw_path)]
    rc = main(["simulate", *args])
    assert rc == 0
    assert "--model ir --method model-based" in capsys.readouterr().out
    ks = recon_engine.read(raw_path)
    assert tuple(ks.data.shape) == (8, 6, 1, 32, 32) and ks.other_axes == ("contrast",)
    assert ks.header.ti_ms == (50.0, 150.0, 300.0, 600.0, 1000.0, 1600.0, 2500.0, 4000.0)
    # every contrast keeps its own lattice of lines (shifted by one per contrast) plus 12 central lines
    lines = ks.sampling_mask[:, 0].numpy()
    assert not np.array_equal(lines[0], lines[1])
    assert np.all(lines[:, 10:22])
    rc = main(
        [
            "fit", str(raw_path), "--model", "ir", "--method", "model-based", "-M", "iterations=6",
            "--device", "cpu", "-o", str(maps), "-q",
        ]
    )  # fmt: skip
    assert rc == 0
    truth = simulate_qmri_raw("ir", n=32, acceleration=3, n_coils=6, calibration_lines=12, noise_std=0.002)
    wm = tissue_masks(truth.truth["labels"], erode=2)["wm"]
    t1 = np.load(maps)["t1"]
    # measured 0.05 % (ESPIRiT maps from the data, 6 Gauss-Newton steps)
    assert abs(float(np.nanmedian(t1[wm])) - 830.0) / 830.0 < 0.03


def test_simulate_qmri_mese_round_trip(tmp_path: Path) -> None:
    path, raw = write_qmri_raw("mese", tmp_path / "mese.h5", n=16, acceleration=2, n_coils=4)
    ks = recon_engine.read(path)
    assert ks.header.te_ms == tuple(10.0 * np.arange(1, 13))
    np.testing.assert_array_equal(ks.sampling_mask.numpy(), raw.kspace.sampling_mask.numpy())
    np.testing.assert_allclose(ks.data.numpy(), raw.kspace.data.numpy(), atol=1e-7)
    with pytest.raises(ParameterError, match="and mrf, not 'dwi'"):
        write_qmri_raw("dwi", tmp_path / "dwi.h5")


def test_simulate_needs_seq_or_qmri(tmp_path: Path) -> None:
    assert main(["simulate", "-o", str(tmp_path / "x.h5")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--qmri", "dwi", "-o", str(tmp_path / "x.h5")])
    assert exc.value.code == 2


def test_simulate_qmri_mrf_then_fit_subspace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], one_torch_thread: None
) -> None:
    from recon_engine.simulate.mrf_raw import simulate_mrf_raw

    raw_path, maps = tmp_path / "mrf.h5", tmp_path / "maps.npz"
    args = ["--qmri", "mrf", "--matrix", "32", "--frames", "160", "--coils", "4", "-o", str(raw_path)]
    assert main(["simulate", *args]) == 0
    assert "--model mrf --method subspace" in capsys.readouterr().out
    ks = recon_engine.read(raw_path)
    assert ks.header.tr_ms == (12.0,) and ks.header.ti_ms == (20.0,) and len(ks.header.flip_angle_deg) == 160
    # TR, TI and the flip angles come from the header: no -O options needed
    rc = main(
        [
            "fit",
            str(raw_path),
            "--model",
            "mrf",
            "--method",
            "subspace",
            "--device",
            "cpu",
            "-o",
            str(maps),
            "-q",
        ]
    )
    assert rc == 0
    truth = simulate_mrf_raw(n=32, n_frames=160, n_coils=4).truth
    out = np.load(maps)
    for key in ("t1", "t2"):
        for name, m in tissue_masks(truth["labels"]).items():
            err = float(np.nanmedian(np.abs(out[key][m] - truth[key][m]) / truth[key][m]))
            # measured 8-9 % (WM/GM), 9-12 % (CSF): 32² and 4 coils, ESPIRiT maps from the data
            assert err < 0.2, (key, name, err)

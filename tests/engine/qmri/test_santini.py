"""Real in-vivo brain data (F. Santini's qMRI example, MIT): T1 from IR-TSE, T2 from single-echo SE.

Data: ``../shared/data/qmri_santini_ir_mese`` (see its PROVENANCE.txt): 256×192 slice, IR with
TI = 50, 100, 200, 500, 2000, 4000 ms (real part, signed) and SE with TE = 10, 25, 50, 90, 150,
250 ms; stored ``(y, x, n)``, moved to contrast-first here.

Regions (defined on the anatomy and the raw images, not on the fitted maps):
- WM: two 16×10 boxes of periventricular frontal white matter, rows 112–127, columns 62–71 and
  118–127 (left and right of the lateral ventricles);
- CSF: the body of the lateral ventricles, rows 116–135, columns 92–101;
- GM: voxels of the brain box (rows 72–195, columns 44–147, TI = 4000 ms signal > 300) whose
  T1-weighted ratio S(TI = 500 ms)/S(TI = 4000 ms) lies in (−0.6, −0.35): cortical grey matter.

Measured medians (signed / magnitude IR fit; T2): WM T1 ≈ 950–970 ms, T2 ≈ 58–66 ms; GM T1 ≈ 1530 ms,
T2 ≈ 68 ms; CSF T1 ≈ 3900 ms, T2 ≈ 450 ms — in the ranges of the literature at 3 T (Stanisz et al.
2005, doi:10.1002/mrm.20605; Wansapura et al. 1999): asserted ranges below.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from recon_engine.qmri import fit, load_series, roi_statistics
from tests.conftest import shared_data

TI = [50, 100, 200, 500, 2000, 4000]
TE = [10, 25, 50, 90, 150, 250]

RANGES = {  # region: (T1 lo, T1 hi, T2 lo, T2 hi) in ms for the region median
    1: (800, 1100, 50, 80),  # WM
    2: (1200, 1800, 55, 110),  # GM
    3: (2500, 5000, 200, 2000),  # CSF
}


def _load(name: str) -> np.ndarray:
    with warnings.catch_warnings():  # saved with Python 2: numpy warns about the header
        warnings.simplefilter("ignore")
        return np.moveaxis(np.load(shared_data("qmri_santini_ir_mese", name)), -1, 0)


@pytest.fixture(scope="module")
def labels_and_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ir, se = _load("t1dataset.npy"), _load("t2dataset.npy")
    labels = np.zeros(ir.shape[1:], np.int16)
    brain = np.zeros_like(labels, dtype=bool)
    brain[72:196, 44:148] = True
    brain &= ir[5] > 300
    ratio = ir[3] / np.maximum(ir[5], 1.0)
    labels[brain & (ratio > -0.6) & (ratio < -0.35)] = 2
    labels[112:128, 62:72] = 1
    labels[112:128, 118:128] = 1
    labels[116:136, 92:102] = 3
    return labels, ir, se


@pytest.mark.parametrize("signed", [True, False])
def test_santini_t1_t2_ranges(
    labels_and_data: tuple[np.ndarray, np.ndarray, np.ndarray], signed: bool
) -> None:
    """Median T1 (signed and magnitude IR) and T2 of WM, GM, CSF lie in the stated physiological ranges."""
    labels, ir, se = labels_and_data
    t1 = fit(ir if signed else np.abs(ir), "ir", times=TI, device="cpu")
    assert t1.options["signed"] is signed
    t2 = fit(se, "t2", times=TE, device="cpu")
    rows = roi_statistics({"t1": t1.maps["t1"], "t2": t2.maps["t2"]}, labels)
    med = {(r["label"], r["map"]): r["median"] for r in rows}
    for region, (lo1, hi1, lo2, hi2) in RANGES.items():
        assert lo1 < med[region, "t1"] < hi1, (region, med[region, "t1"])
        assert lo2 < med[region, "t2"] < hi2, (region, med[region, "t2"])
    assert med[1, "t1"] < med[2, "t1"] < med[3, "t1"]
    assert med[1, "t2"] < med[2, "t2"] < med[3, "t2"]
    brain = labels > 0
    assert np.nanmedian(t1.maps["r2"][brain]) > 0.99


def test_santini_load_series_npy(tmp_path: object) -> None:
    """load_series reads the same data from a contrast-first .npy with the times given."""
    ir = _load("t1dataset.npy")
    p = tmp_path / "ir.npy"  # type: ignore[operator]
    np.save(p, ir)
    s = load_series(p, times=TI)
    assert s.data.shape == (6, 256, 192) and s.times is not None and s.times[-1] == 4000

"""``mrrecon bench --quick``: completes, prints well-formed records, quality figures hold.

Not a timing test (timings depend on the machine); the thresholds are on the quality
figures of the quick problem set (64² Cartesian R = 4, 8 coils; radial 32 × 64; 32³):
measured NRMSE ≈ 0.16 (CG-SENSE), 0.03 (TV), 0.11 (wavelet), 0.20 (radial), 0.05 (3D),
map similarity to the true coil maps ≈ 0.9997, NUFFT relative error ≈ 9e-5.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from recon_engine.cli import main
from recon_engine.cli.bench import PROBLEMS, Record, evaluate, format_table, markdown_table

KEYS = {"problem", "tool", "median_s", "min_s", "quality_name", "quality"}

#: Upper bounds on the quick problems' quality figures (NRMSE-like: lower is better).
MAX_ERROR = {
    "cg_sense": 0.25,
    "tv": 0.08,
    "wavelet": 0.2,
    "grappa": 0.3,
    "radial_cg_sense": 0.3,
    "cg_sense_3d": 0.1,
    "nufft_adjoint": 3e-4,
}


@pytest.fixture(scope="module")
def quick_records() -> list[dict[str, object]]:
    """Records of ``mrrecon bench --quick --json --no-peers --no-gui`` (ours only, fast)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["bench", "--quick", "--json", "--no-peers", "--no-gui", "-q"])
    assert status == 0
    records: list[dict[str, object]] = json.loads(out.getvalue())
    return records


def test_quick_records_are_well_formed(quick_records: list[dict[str, object]]) -> None:
    """Every record has the six keys, finite non-negative times (min ≤ median), a known problem."""
    assert quick_records
    for r in quick_records:
        assert set(r) >= KEYS, r
        assert r["problem"] in PROBLEMS
        assert r["tool"] == "napari-mrrecon"
        median, low = float(r["median_s"]), float(r["min_s"])  # type: ignore[arg-type]
        assert math.isfinite(median) and 0 < low <= median, r
    names = {r["problem"] for r in quick_records}
    assert {"espirit", "cg_sense", "tv", "wavelet", "grappa", "nufft_adjoint", "radial_cg_sense"} <= names


def test_quick_quality_figures_hold(quick_records: list[dict[str, object]]) -> None:
    """NRMSE/relative error below :data:`MAX_ERROR`; ESPIRiT maps ≥ 0.999 similar to the truth."""
    by = {r["problem"]: r for r in quick_records}
    for problem, bound in MAX_ERROR.items():
        q = by[problem]["quality"]
        assert q is not None and float(q) <= bound, (problem, q)  # type: ignore[arg-type]
    assert float(by["espirit"]["quality"]) >= 0.999  # type: ignore[arg-type]
    # TV on a piecewise-constant phantom beats plain CG-SENSE
    assert float(by["tv"]["quality"]) < float(by["cg_sense"]["quality"])  # type: ignore[arg-type]


def test_table_ratio_and_targets() -> None:
    """Ratios are ours / fastest (or the named) peer; targets pass or fail as stated."""
    recs = [
        Record("cg_sense", "napari-mrrecon", 0.2, 0.19, "NRMSE", 0.1),
        Record("cg_sense", "sigpy 0.1.27", 0.4, 0.38, "NRMSE", 0.1),
        Record("cg_sense", "bart 0.8.00", 1.0, 0.9, "NRMSE", 0.1),
        Record("tv", "napari-mrrecon", 0.5, 0.5, "NRMSE", 0.05),
        Record("tv", "sigpy 0.1.27", 0.9, 0.9, "NRMSE", 0.04),
        Record("nufft_adjoint", "napari-mrrecon", 0.02, 0.02, "rel. error", 1e-4),
        Record("nufft_adjoint", "finufft 2.5", 0.01, 0.01, "rel. error", 1e-4),
        Record("nufft_adjoint", "sigpy 0.1.27", 0.05, 0.05, "rel. error", 1e-3),
    ]
    ratio, ok = evaluate(recs, "cg_sense")
    assert ratio == pytest.approx(0.5) and ok is True  # 0.5 ≤ 0.6
    ratio, ok = evaluate(recs, "tv")
    assert ratio == pytest.approx(0.5 / 0.9) and ok is False  # too slow and a worse NRMSE
    ratio, ok = evaluate(recs, "nufft_adjoint")  # the target names SigPy, not the fastest peer
    assert ratio == pytest.approx(0.4) and ok is True
    assert evaluate(recs[:1], "cg_sense") == (None, None)  # no peer: not judged
    text = format_table(recs)
    assert "pass" in text and "FAIL" in text
    md = markdown_table(recs)
    assert md.count("\n") == len(recs) + 1
    assert Record.from_json(recs[3].to_json()) == recs[3]


@pytest.mark.cuda
def test_quick_bench_on_cuda() -> None:
    """On a GPU the quick problems give the CPU's quality figures (CG-SENSE NRMSE within 1e-3)."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    from recon_engine.cli.bench import run_benchmarks

    only = ["cg_sense", "tv", "nufft_adjoint", "radial_cg_sense"]
    gpu = {r.problem: r for r in run_benchmarks(quick=True, device="cuda", only=only, peers=False)}
    cpu = {r.problem: r for r in run_benchmarks(quick=True, device="cpu", only=only, peers=False)}
    for problem in only:
        assert math.isfinite(gpu[problem].median_s)
        assert gpu[problem].quality == pytest.approx(cpu[problem].quality, abs=1e-3), problem

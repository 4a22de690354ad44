"""``mrrecon bench --quick``: completes, prints well-formed records, quality figures hold.

Not a timing test (timings depend on the machine); the thresholds are on the quality
figures of the quick problem set (64² Cartesian R = 4, 8 coils; radial 32 × 64; 32³):
measured NRMSE ≈ 0.16 (CG-SENSE), 0.03 (TV), 0.11 (wavelet), 0.20 (radial), 0.05 (3D),
map similarity to the true coil maps ≈ 0.9997, NUFFT relative error ≈ 9e-5.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from recon_engine.cli import main
from recon_engine.cli.bench import PROBLEMS, Record, evaluate, format_table, markdown_table
from recon_engine.io.cfl import read_cfl, write_cfl
from recon_engine.operators.cartesian_normal import CartesianNormalOp
from recon_engine.operators.coils import SensitivityOp
from recon_engine.operators.fft import FFTOp
from recon_engine.operators.sampling import CartesianSamplingOp

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


def test_cfl_writer_round_trip(tmp_path: Path) -> None:
    """write_cfl → read_cfl gives the array back exactly (BART order, Fortran layout)."""
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((5, 4, 1, 3)) + 1j * rng.standard_normal((5, 4, 1, 3))).astype(np.complex64)
    base = write_cfl(tmp_path / "x", a)
    back = read_cfl(base)
    np.testing.assert_array_equal(back, a)
    assert (tmp_path / "x.hdr").read_text().splitlines()[1].split() == ["5", "4", "1", "3", "1"]


@pytest.mark.parametrize(("shape", "ndim"), [((1, 24, 20), 2), ((6, 8, 10), 3), ((1, 25, 21), 2)])
def test_fused_cartesian_normal_equals_composed_gram(shape: tuple[int, int, int], ndim: int) -> None:
    """CartesianNormalOp = (M F S)ᴴ(M F S) to float32 rounding (rel. diff < 1e-5), odd sizes too."""
    g = torch.Generator().manual_seed(3)
    maps = torch.randn(1, 2, 4, *shape, dtype=torch.complex64, generator=g)  # two sets of maps
    mask = torch.rand(1, 1, shape[0], shape[1], 1, generator=g) > 0.5
    composed = (CartesianSamplingOp(mask) @ FFTOp(ndim) @ SensitivityOp(maps)).gram
    fused = CartesianNormalOp(maps, mask, ndim)
    x = torch.randn(1, 2, *shape, dtype=torch.complex64, generator=g)
    a, b = composed(x), fused(x)
    assert float((a - b).norm() / a.norm()) < 1e-5
    one = CartesianNormalOp(maps[:, :1], mask, ndim)  # one set: the no-sum branch
    ref = (CartesianSamplingOp(mask) @ FFTOp(ndim) @ SensitivityOp(maps[:, :1])).gram(x[:, :1])
    assert float((one(x[:, :1]) - ref).norm() / ref.norm()) < 1e-5


@pytest.mark.parametrize(("shape", "ndim", "coil_mask"), [((1, 24, 20), 2, False), ((6, 8, 10), 3, True)])
def test_fused_cartesian_normal_coil_loop_equals_composed_gram(
    shape: tuple[int, int, int], ndim: int, coil_mask: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CPU coil-chunk loop (forced by MIN_LOOP_VOXELS = 1; 5 coils, so a partial last chunk;
    one and two map sets; a per-coil mask) = (M F S)ᴴ(M F S) to float32 rounding (< 1e-5)."""
    from recon_engine.operators import cartesian_normal

    monkeypatch.setattr(cartesian_normal, "MIN_LOOP_VOXELS", 1)
    g = torch.Generator().manual_seed(4)
    maps = torch.randn(1, 2, 5, *shape, dtype=torch.complex64, generator=g)
    mask = torch.rand(1, 5 if coil_mask else 1, shape[0], shape[1], 1, generator=g) > 0.5
    x = torch.randn(1, 2, *shape, dtype=torch.complex64, generator=g)
    for sets in (maps, maps[:, :1]):
        op = CartesianNormalOp(sets, mask, ndim)
        assert op._loops(x)
        xs = x[:, : sets.shape[1]]
        ref = (CartesianSamplingOp(mask) @ FFTOp(ndim) @ SensitivityOp(sets)).gram(xs)
        assert float((op(xs) - ref).norm() / ref.norm()) < 1e-5


@pytest.mark.parametrize("shape", [(1, 64, 48), (1, 100, 60), (12, 16, 16)])
def test_wavelet_matrix_levels_equal_polyphase(
    shape: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """WaveletOp by matrix products = the polyphase loop (rel. diff < 1e-6), and stays an isometry."""
    from recon_engine.operators import wavelet

    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, *shape, dtype=torch.complex64, generator=g)
    fast = wavelet.WaveletOp(shape, wavelet="db4")
    c_fast = fast(x)
    monkeypatch.setattr(wavelet, "_MATRIX_MAX", 0)  # force the polyphase loop
    slow = wavelet.WaveletOp(shape, wavelet="db4")
    c_slow = slow(x)
    assert float((c_fast - c_slow).norm() / c_slow.norm()) < 1e-6
    back_fast, back_slow = fast.adjoint(c_fast), slow.adjoint(c_fast)
    assert float((back_fast - back_slow).norm() / back_slow.norm()) < 1e-6
    assert float((back_fast - x).norm() / x.norm()) < 1e-6  # WᴴW = I


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

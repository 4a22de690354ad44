"""The extra ``mrrecon bench`` suites (``learned``, ``qmri-raw``, ``simulation``) on tiny sizes.

Not timing tests: every new row must run and give a record with finite, positive times and a
finite quality figure. Figures of the quick sizes on this CPU (one thread): P1 64² NRMSE pnp
0.120, modl 0.118; P5 32² median T1 error two-step 0.080, model-based (4 outer iterations)
0.045; P6 32² GRE 576,800 isochromat-steps.
"""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest
import torch

from recon_engine.cli import main
from recon_engine.cli.bench import SUITES, Case, Record, problems_of, run_benchmarks, time_cases
from recon_engine.cli.bench._suites import cuda_device
from recon_engine.cli.bench.ours_qmri_raw import QMRI_RAW_METHODS
from recon_engine.errors import ParameterError
from recon_engine.qmri.model_based import MAPPING_METHODS


def _finite(r: Record) -> None:
    assert r.note == "" or not r.note.startswith("failed"), r
    assert math.isfinite(r.median_s) and 0 < r.min_s <= r.median_s, r
    assert math.isfinite(r.quality), r
    assert all(math.isfinite(v) for v in r.extra.values()), r


def test_learned_suite_quick() -> None:
    """pnp/modl on the quick P1 give NRMSE < 0.2; training rows give samples/s and a finite loss."""
    notes: list[str] = []
    recs = run_benchmarks(quick=True, suites=["learned"], device="cpu", peers=False, notes=notes)
    by = {r.problem: r for r in recs}
    assert set(by) == {"pnp", "modl", "train_denoiser", "train_modl"}
    for r in recs:
        _finite(r)
    for key in ("pnp", "modl"):
        assert by[key].quality_name == "NRMSE" and 0 < by[key].quality < 0.2, by[key]
    for key in ("train_denoiser", "train_modl"):
        assert by[key].quality_name == "samples/s" and by[key].quality > 0
        assert by[key].extra["loss"] > 0
    # --device cpu: the CUDA rows are skipped with a reason
    assert sum("_cuda" in n and "skipped" in n for n in notes) == 2, notes


def test_qmri_raw_suite_quick() -> None:
    """Every mapping method on the 32² IR raw data; model-based beats two-step (0.045 vs 0.080).

    ``qmri_raw_learned`` runs where the engine has the ``"learned"`` mapping method (else a note).
    """
    notes: list[str] = []
    recs = run_benchmarks(quick=True, suites=["qmri-raw"], device="cpu", peers=False, notes=notes)
    by = {r.problem: r for r in recs}
    present = {k for k in SUITES["qmri-raw"] if QMRI_RAW_METHODS[k][0] in MAPPING_METHODS}
    assert set(by) == present and len(notes) == len(SUITES["qmri-raw"]) - len(present)
    for r in recs:
        _finite(r)
        assert r.quality_name == "median T1 error" and 0 < r.quality < 0.5, r
        assert set(r.extra) == {"WM", "GM", "CSF"}, r
        assert "32²" in r.note
    assert by["qmri_raw_model_based"].quality < 0.8 * by["qmri_raw_two_step"].quality


def test_simulation_suite_cli_json() -> None:
    """``mrrecon bench --suite simulation --quick --json``: a record with steps/s = steps / loop s."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["bench", "--suite", "simulation", "--quick", "--json", "--no-peers", "-q"])
    assert status == 0
    recs = [Record.from_json(d) for d in json.loads(out.getvalue())]
    by = {r.problem: r for r in recs}
    assert "seq_sim" in by
    r = by["seq_sim"]
    _finite(r)
    assert r.quality_name == "isochromat-steps/s"
    assert r.extra["isochromats"] > 0 and r.extra["steps"] >= r.extra["isochromats"] * 32 * 32
    assert r.quality == pytest.approx(r.extra["steps"] / r.extra["loop s"], rel=1e-6)
    if not torch.cuda.is_available():
        assert "seq_sim_cuda" not in by


def test_cuda_rows_skip_cleanly_without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no GPU (``auto`` → CPU) the CUDA rows give no record, only a note."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    notes: list[str] = []
    recs = run_benchmarks(quick=True, only=["seq_sim_cuda", "train_modl_cuda"], peers=False, notes=notes)
    assert recs == []
    assert sorted(n.split(":")[0] for n in notes) == ["seq_sim_cuda", "train_modl_cuda"]
    assert all("no CUDA GPU" in n for n in notes)
    assert cuda_device(torch.device("cuda"), "x", []) == torch.device("cuda")


def test_cuda_device_with_gpu_but_cpu_requested(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--device cpu`` on a GPU machine skips the CUDA rows (note); other devices pick CUDA."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    notes: list[str] = []
    assert cuda_device(torch.device("cpu"), "seq_sim_cuda", notes) is None
    assert "--device cpu" in notes[0]
    assert cuda_device(torch.device("meta"), "seq_sim_cuda", []) == torch.device("cuda")


@pytest.mark.cuda
def test_cuda_rows_on_gpu() -> None:
    """On a GPU the CUDA training and simulation rows run and give finite figures."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    rows = ["train_denoiser_cuda", "train_modl_cuda", "seq_sim_cuda"]
    recs = run_benchmarks(quick=True, only=rows, device="cuda", peers=False)
    assert {r.problem for r in recs} == set(rows)
    for r in recs:
        _finite(r)


def test_suites_selection_and_case_repeats() -> None:
    """Suites map to problems in table order; a case's own repeat count wins over the run's."""
    assert problems_of(["core"])[:4] == ["espirit", "cg_sense", "tv", "wavelet"]
    assert set(problems_of(["all"])) == {p for s in SUITES.values() for p in s}
    with pytest.raises(ParameterError, match="unknown benchmark suite"):
        problems_of(["nope"])
    a = Case("seq_sim", "a", lambda: 1.0, float, "q", repeats=2)
    b = Case("seq_sim", "b", lambda: 2.0, float, "q", extra=lambda v: {"twice": 2 * v})
    recs = time_cases([a, b], 3)
    assert len(a.times) == 2 and len(b.times) == 3
    assert recs[1].extra == {"twice": 4.0}
    back = Record.from_json(Record("p", "t", 1.0, 1.0, "q", 0.5, "", {"x": float("nan"), "y": 2.0}).to_json())
    assert math.isnan(back.extra["x"]) and back.extra["y"] == 2.0

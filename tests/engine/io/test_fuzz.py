"""Fast tier of the project's own fuzzer (``scripts/fuzz.py``; issue 13).

A fixed seed, a few hundred structured and byte mutations of the sample ISMRMRD files, the
shared twix / Pulseq / ISMRMRD files when ``../shared/data`` exists, and generated ``.npy``,
NIfTI and DICOM series; each case runs ``mrrecon info``/``recon``/``fit`` (or the sequence
reader) in a child forked from a clean server process, with a memory cap and a time limit
that only *detects* hangs. Every case must end in success or the engine's one-line error:
no crash, hang or over-memory, no modified input, no partial output. Long runs: ``scripts/fuzz.py --n 10000``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA
from tests.engine.io._fuzz import fuzz

N_CASES = 400
SEED = 20261207


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> list:
    work = tmp_path_factory.mktemp("fuzz")
    shared = SHARED_DATA if SHARED_DATA.is_dir() else None
    f = fuzz()
    with f.ForkServer() as server:  # cases fork from a clean process, not from this test session
        return f.run_cases(
            N_CASES, SEED, timeout_s=60.0, memory_gb=4.0, workdir=work, shared=shared, runner=server.run
        )


def test_fast_tier_has_no_crash_hang_or_runaway(cases: list) -> None:
    f = fuzz()
    bad = [
        f"{c.source} {c.what} :: {c.argv[0]} :: {c.result.outcome} {c.result.message} {c.result.where}"
        for c in cases
        if f.is_failure(c.result)
    ]
    assert bad == []
    counts = Counter(c.result.outcome for c in cases)
    assert counts["error"] > N_CASES // 5  # the mutations do damage: many clean errors
    assert counts["success"] > 0  # and some leave a usable file


def test_fast_tier_covers_every_source_kind(cases: list) -> None:
    kinds = {c.kind for c in cases}
    assert {"ismrmrd", "npy", "nifti", "dicom"} <= kinds
    if SHARED_DATA.is_dir():
        assert {"twix", "seq", "twix+seq"} <= kinds


def test_errors_are_one_line_with_the_engine_prefix(cases: list) -> None:
    for c in cases:
        if c.result.outcome == "error":
            assert c.result.message.startswith("mrrecon: error: "), c.result.message
            assert "\n" not in c.result.message


def test_patches_recreate_the_damaged_file(tmp_path: Path) -> None:
    f = fuzz()
    src = f.all_sources(tmp_path / "src", shared=None)[0]
    damaged = f.mutate(src, "zero_block", 5, tmp_path / "damaged")
    case = f.Case(0, 5, src.name, "zero_block", src.kind, damaged.what, ["info", str(damaged.files[0])])
    record = f.regression_record(case, src, tmp_path / "damaged")
    again = f.materialize(record, src, tmp_path / "again")
    assert again[0].read_bytes() == damaged.files[0].read_bytes()
    assert again[0].read_bytes() != src.files[0].read_bytes()

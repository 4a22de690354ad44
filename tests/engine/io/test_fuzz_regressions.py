"""Every failure the fuzzer found, replayed (``tests/data/fuzz/*.json``; issue 13).

Each record names its source file, the byte patches that damage it and the command that
crashed, hung or ran out of memory before the fix (``found``), and what the engine does now
(``expect``: the outcome and a fragment of the error message). Records of shared files skip
when ``../shared/data`` is absent. Refresh ``expect`` with
``scripts/fuzz.py --update-expectations tests/data/fuzz`` after a deliberate change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SHARED_DATA
from tests.engine.io._fuzz import fuzz

RECORDS = sorted((ROOT / "tests" / "data" / "fuzz").glob("*.json"))


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    """Cases fork from a clean process that imported the commands once, not from this session."""
    with fuzz().ForkServer() as s:
        yield s


def test_regression_files_are_small() -> None:
    assert sum(p.stat().st_size for p in RECORDS) < 1_000_000


@pytest.mark.parametrize("path", RECORDS, ids=[p.stem for p in RECORDS])
def test_fuzz_regression(path: Path, tmp_path: Path, server: Any) -> None:
    record = json.loads(path.read_text())
    if record["source"].startswith("shared:") and not SHARED_DATA.is_dir():
        pytest.skip("shared data not present")
    res = fuzz().replay(
        record, tmp_path, shared=SHARED_DATA, timeout_s=60.0, memory_gb=4.0, runner=server.run
    )
    if res is None:
        pytest.skip(f"source {record['source']} not present")
    assert not fuzz().is_failure(res), f"{record['what']}: {res.outcome} {res.message} {res.where}"
    expect = record["expect"]
    assert res.outcome == expect["outcome"], res.message
    if expect["outcome"] == "error":
        assert expect["fragment"] in res.message

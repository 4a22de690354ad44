"""A stopped batch on its own local cluster removes what killed tasks left half-written."""

from __future__ import annotations

from pathlib import Path

from recon_engine.batch.run import _remove_partial


def test_partial_files_of_unfinished_outputs_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".tmp-1a2b3c4d-scan.h5").write_bytes(b"half")
    (tmp_path / ".tmp-5e6f7a8b-scan.mrrecon.json").write_text("{")
    (tmp_path / ".tmp-00112233-scan_maps").mkdir()
    (tmp_path / ".tmp-00112233-scan_maps" / "t1.nii.gz").write_bytes(b"x")
    (tmp_path / ".tmp-99aabbcc-other.h5").write_bytes(b"another output's")
    (tmp_path / "done.h5").write_bytes(b"complete")
    _remove_partial([tmp_path / "scan.h5", tmp_path / "scan_maps", tmp_path / "[x].h5"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-99aabbcc-other.h5", "done.h5"]


def test_stopping_at_the_first_event_still_writes_the_report(tmp_path: Path) -> None:
    import json

    from recon_engine.batch import REPORT_NAME, run_batch_steps
    from recon_engine.recipe import Recipe
    from tests.conftest import ROOT

    sample = ROOT / "sample_data" / "phantom_R2.h5"
    steps = run_batch_steps(Recipe(input_file="x", method="direct"), [tmp_path / "gone.h5", sample], tmp_path)
    first = next(steps)  # the missing input, reported before any cluster starts
    assert first.result is not None and first.result.status == "failed"
    steps.close()
    saved = json.loads((tmp_path / REPORT_NAME).read_text())
    assert saved["stopped"] is True
    assert [f["error"] for f in saved["files"]][1] == "not run (batch stopped)"

"""The npe2 manifest validates, and manifest-listed modules import without napari or torch."""

from __future__ import annotations

import subprocess
import sys

MODULES = (
    "napari_mrrecon.io.reader",
    "napari_mrrecon.io.writer",
    "napari_mrrecon.io.samples",
    "napari_mrrecon.docks.recon.widget",
    "napari_mrrecon.docks.sweep.widget",
    "napari_mrrecon.docks.metadata",
    "napari_mrrecon.io.twix",
    "napari_mrrecon.io.sequence",
    "napari_mrrecon.docks.trajectory",
    "napari_mrrecon.docks.sequence",
    "napari_mrrecon.docks.explorer.widget",
    "napari_mrrecon.docks.qmri.widget",
    "napari_mrrecon.docks.training.widget",
    "napari_mrrecon.docks.batch.widget",
    "napari_mrrecon.io.qmri_samples",
    "napari_mrrecon.app.launch",
)


def test_npe2_validate() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "napari-mrrecon", "--imports"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "valid" in proc.stdout


def test_manifest_contributions() -> None:
    from npe2 import PluginManifest

    pm = PluginManifest.from_distribution("napari-mrrecon")
    contrib = pm.contributions
    assert {w.display_name for w in contrib.widgets or []} == {
        "MR Reconstruction",
        "Sweep",
        "Metadata",
        "Trajectory",
        "Sequence",
        "K-space Explorer",
        "qMRI Fitting",
        "Training",
        "Batch",
    }
    assert contrib.readers is not None
    assert [r.filename_patterns for r in contrib.readers] == [["*.h5", "*.mrd"], ["*.dat"], ["*.seq"]]
    assert {s.key for s in contrib.sample_data or []} == {
        "phantom_full",
        "phantom_R2",
        "phantom_R4",
        "qmri_ir",
        "qmri_t2",
        "qmri_ir_raw",
        "qmri_mese_raw",
        "qmri_mrf_raw",
    }
    assert contrib.writers is not None
    assert ".nii.gz" in contrib.writers[0].filename_extensions


def test_modules_import_without_napari_or_torch() -> None:
    code = (
        "import sys\n"
        f"for m in {MODULES!r}: __import__(m)\n"
        "heavy = ('torch', 'napari', 'recon_engine', 'matplotlib', 'pypulseq', 'twixtools')\n"
        "heavy = sorted(m for m in heavy if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr

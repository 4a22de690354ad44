"""Files from the official ISMRMRD C++ tools reconstruct like ``ismrmrd_recon_cartesian_2d``."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

import recon_engine as mr

pytestmark = pytest.mark.tools


@pytest.mark.parametrize("options", [(), ("-C",), ("-k",), ("-C", "-k"), ("-O", "1")])
def test_matches_the_official_cartesian_recon(
    tmp_path: Path, ismrmrd_tool: Callable[..., Path], options: tuple[str, ...]
) -> None:
    exe = shutil.which("ismrmrd_recon_cartesian_2d")
    if exe is None:
        pytest.skip("ismrmrd_recon_cartesian_2d not installed")
    src = ismrmrd_tool(tmp_path, "-m", "64", "-c", "4", *options)
    copy = tmp_path / "copy.h5"
    shutil.copy(src, copy)  # the tool writes its result into its input file
    subprocess.run([exe, str(copy)], check=True, capture_output=True)
    with h5py.File(copy, "r") as f:
        ref = f["dataset/cpp/data"][0, 0, 0].astype(np.float64)
    ks = mr.read(src)
    ours = mr.reconstruct(ks, combine="rss", prewhitening=False).magnitude()[0, 0].astype(np.float64)
    assert ours.shape == ref.shape
    # the tool uses an unnormalised FFT: its image is sqrt(N_x N_y) (encoded matrix) times ours
    scale = np.sqrt(ks.shape[-1] * ks.shape[-2])
    np.testing.assert_allclose(ours * scale, ref, rtol=1e-4, atol=1e-4 * ref.max())
    nrmse = np.linalg.norm(ours * scale - ref) / np.linalg.norm(ref)
    assert nrmse < 1e-6  # measured ~1e-7


def test_accelerated_tool_file_merges_its_interleaved_repetitions(
    tmp_path: Path, ismrmrd_tool: Callable[..., Path]
) -> None:
    # "-a 2" writes the R=2 pattern as two repetitions that together cover k-space;
    # each repetition alone is zero-filled (aliased), as the file describes it.
    ks = mr.read(ismrmrd_tool(tmp_path, "-m", "64", "-c", "4", "-a", "2", "-w", "16"))
    img = mr.reconstruct(ks)
    assert img.shape == (2, 1, 1, 64, 64)
    full = mr.reconstruct(mr.read(ismrmrd_tool(tmp_path, "-m", "64", "-c", "4"))).magnitude()[0, 0]
    one = img.magnitude()[0, 0, 0]
    assert np.linalg.norm(one - full) / np.linalg.norm(full) > 0.1  # aliased

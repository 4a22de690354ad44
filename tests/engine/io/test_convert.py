"""``convert``: twix (+ .seq) → ISMRMRD, read back as the same k-space."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from recon_engine.cli import main
from recon_engine.errors import ExportError, FileFormatError
from recon_engine.io.convert import convert
from recon_engine.io.ismrmrd_read import read_ismrmrd
from recon_engine.io.twix import read_twix
from tests.conftest import shared_data

pytest.importorskip("twixtools")


def _same(a: object, b: object) -> None:
    for name in ("data", "sampling_mask", "noise", "navigators", "trajectory"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=name)


@pytest.mark.parametrize("name", ["gre.dat", "epi.dat"])
def test_twix_to_ismrmrd_round_trip(tmp_path: Path, name: str) -> None:
    src = shared_data("twixtools_examples", name)
    out = convert(src, tmp_path / "raw.h5")
    assert out == (tmp_path / "raw.h5").absolute() and out.exists()
    twix, back = read_twix(src), read_ismrmrd(out)
    _same(twix, back)
    assert back.header.encoded_matrix == twix.header.encoded_matrix
    assert back.header.recon_matrix == twix.header.recon_matrix
    assert back.header.encoded_fov_mm == twix.header.encoded_fov_mm
    np.testing.assert_allclose(back.geometry.rotation, twix.geometry.rotation, atol=1e-6)
    np.testing.assert_allclose(back.geometry.position_mm, twix.geometry.position_mm, atol=1e-4)
    assert back.acquisitions.kind_counts()["reverse"] == twix.acquisitions.kind_counts()["reverse"]


def test_multiraid_noise_survives(tmp_path: Path, rng: np.random.Generator) -> None:
    from tests.engine.io.test_twix import _multiraid

    src = _multiraid(tmp_path, rng)
    back = read_ismrmrd(convert(src, tmp_path / "raw.h5"))
    _same(read_twix(src), back)
    assert back.noise is not None and back.acquisitions.kind_counts()["noise"] == 6


def test_refuses_to_replace_input_or_existing_output(tmp_path: Path) -> None:
    src = shared_data("twixtools_examples", "gre.dat")
    out = convert(src, tmp_path / "raw.h5")
    with pytest.raises(ExportError, match="already exists"):
        convert(src, out)
    convert(src, out, overwrite=True)
    with pytest.raises(ExportError, match="input file"):
        convert(out, out, overwrite=True)
    with pytest.raises(FileFormatError):
        convert(tmp_path / "missing.dat", tmp_path / "x.h5")


def test_cli_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = shared_data("twixtools_examples", "gre.dat")
    out = tmp_path / "gre.h5"
    assert main(["convert", str(src), "-o", str(out)]) == 0
    assert out.exists()
    cut = tmp_path / "cut.dat"
    cut.write_bytes(src.read_bytes()[:500_000])
    assert main(["convert", str(cut), "-o", str(tmp_path / "cut.h5")]) == 2
    err = capsys.readouterr().err
    assert "truncated" in err and err.count("\n") == 1
    assert not (tmp_path / "cut.h5").exists()


@pytest.mark.skipif(
    importlib.util.find_spec("recon_engine.io.pulseq") is None, reason="Pulseq reader not available"
)
def test_twix_with_seq_writes_the_trajectory(tmp_path: Path) -> None:
    folder = shared_data("pulseq_mr_physics_course", "07_echo_planar_imaging", "data")
    name = "04_03_ramp_sampling_epi_96x96_pe+"
    ks = read_twix(folder / f"{name}.dat", seq=folder / f"{name}.seq")
    back = read_ismrmrd(convert(folder / f"{name}.dat", tmp_path / "epi.h5", seq=folder / f"{name}.seq"))
    assert ks.trajectory is not None and back.trajectory is not None
    np.testing.assert_allclose(back.trajectory.numpy(), ks.trajectory.numpy(), atol=1e-4)
    np.testing.assert_array_equal(back.data.numpy(), ks.data.numpy())

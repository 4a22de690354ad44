"""BART ``.cfl``/``.hdr`` arrays: the writer and the reader agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recon_engine.io.cfl import read_cfl, write_cfl


def test_cfl_writer_round_trip(tmp_path: Path) -> None:
    """write_cfl → read_cfl gives the array back exactly (BART order, Fortran layout)."""
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((5, 4, 1, 3)) + 1j * rng.standard_normal((5, 4, 1, 3))).astype(np.complex64)
    base = write_cfl(tmp_path / "x", a)
    back = read_cfl(base)
    np.testing.assert_array_equal(back, a)
    assert (tmp_path / "x.hdr").read_text().splitlines()[1].split() == ["5", "4", "1", "3", "1"]

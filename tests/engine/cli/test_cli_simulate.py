"""``mrrecon simulate``: a small GRE to ISMRMRD, and bad input exits 2."""

from __future__ import annotations

from pathlib import Path

import recon_engine as mr
from recon_engine.cli import main
from recon_engine.simulate import _seq_examples as ex


def test_simulate_writes_raw_data(tmp_path: Path) -> None:
    seq = tmp_path / "gre.seq"
    ex.gre(16).write(str(seq))
    out = tmp_path / "raw.h5"
    assert main(["simulate", str(seq), "--coils", "2", "--isochromats", "1", "-o", str(out), "-q"]) == 0
    ks = mr.read(out)
    assert ks.shape == (2, 1, 16, 16)


def test_simulate_bad_phantom_exits_2(tmp_path: Path) -> None:
    seq = tmp_path / "gre.seq"
    ex.gre(8).write(str(seq))
    assert main(["simulate", str(seq), "--phantom", "liver", "-o", str(tmp_path / "x.h5")]) == 2

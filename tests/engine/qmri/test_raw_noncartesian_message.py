"""Cartesian-only mapping methods on non-Cartesian MRF raw data: the error names the methods that apply."""

from __future__ import annotations

import pytest

from recon_engine.errors import DataError
from recon_engine.progress import run
from recon_engine.qmri.model_based import map_raw_steps
from recon_engine.simulate.mrf_raw import simulate_mrf_raw

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("method", ["two-step", "model-based", "learned"])
def test_cartesian_methods_on_mrf_raw_name_the_mrf_methods(method: str) -> None:
    ks = simulate_mrf_raw(n=16, n_frames=24, n_coils=2).kspace
    with pytest.raises(DataError, match=r"non-Cartesian MRF data .*use method gridding, subspace or pnp"):
        run(map_raw_steps(ks, "mrf", method=method, device="cpu"))

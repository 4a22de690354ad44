"""Shared fixtures: seeded generators, ISMRMRD files from the official tools, shared data."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
SEED = 20261121


@pytest.fixture
def rng() -> np.random.Generator:
    """The one seeded NumPy generator of a test."""
    return np.random.default_rng(SEED)


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    torch.manual_seed(SEED)


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Single-threaded torch for a module, restored afterwards.

    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``. On the shared 2-core
    test machine under load, torch's 2 OpenMP threads spin against other processes and slow
    eigen-decompositions and FFTs several times.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, skipping the test when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data {p} not present")
    return p


@pytest.fixture(scope="session")
def ismrmrd_tool() -> Callable[..., Path]:
    """Factory: run ``ismrmrd_generate_cartesian_shepp_logan`` with options into a fresh file."""
    exe = shutil.which("ismrmrd_generate_cartesian_shepp_logan")
    if exe is None:
        pytest.skip("ismrmrd-tools not installed (apt-get install ismrmrd-tools)")
    cache: dict[tuple[str, ...], Path] = {}

    def make(tmp: Path, *options: str) -> Path:
        key = tuple(options)
        if key not in cache:
            out = tmp / ("sl" + "".join(o.replace("-", "_") for o in options) + ".h5")
            subprocess.run([exe, *options, "-o", str(out)], check=True, capture_output=True)
            cache[key] = out
        return cache[key]

    return make

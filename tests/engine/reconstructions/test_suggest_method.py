"""The first reconstruction a user sees is chosen from the data (suggest_method)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import recon_engine as mr
from recon_engine.reconstructions import METHODS, suggest_method

SAMPLES = Path(__file__).resolve().parents[3] / "sample_data"


@pytest.mark.parametrize(
    ("name", "method"), [("phantom_full", "direct"), ("phantom_R2", "sense"), ("phantom_R4", "sense")]
)
def test_sample_data(name: str, method: str) -> None:
    kspace = mr.read(SAMPLES / f"{name}.h5")
    assert suggest_method(kspace) == method
    assert method in METHODS


def test_no_calibration_or_one_coil_stays_direct() -> None:
    ks = mr.read(SAMPLES / "phantom_R2.h5")
    assert ks.acceleration > 1.6
    regular = torch.zeros_like(ks.sampling_mask)
    regular[..., ::2] = True  # R = 2 lattice, no fully sampled centre
    no_acs = dataclasses.replace(
        ks, sampling_mask=regular, calibration_mask=torch.zeros_like(ks.calibration_mask)
    )
    assert suggest_method(no_acs) == "direct"
    one_coil = dataclasses.replace(ks, data=ks.data[..., :1, :, :, :])
    assert suggest_method(one_coil) == "direct"

"""MoDL started from the noise-conditional denoiser (the start of the shipped MoDL's training)."""

from __future__ import annotations

import pytest
import torch

from recon_engine.errors import ParameterError
from recon_engine.learned.modl_net import MoDLNet
from recon_engine.learned.networks import DnCNN

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_from_denoiser_freezes_sigma_into_the_first_bias() -> None:
    torch.manual_seed(0)
    den = DnCNN(8, 4, noise_channel=True, he_init=True)
    net = MoDLNet.from_denoiser(den, 0.05, unrolls=3, cg_iterations=2, initial_lambda=0.2)
    x = torch.randn(2, 24, 24, dtype=torch.complex64)
    with torch.no_grad():
        a, b = den(x, 0.05), net.denoiser(x)
    inner = (slice(None), slice(4, -4), slice(4, -4))  # away from the zero-padded border (depth 4)
    assert torch.allclose(a[inner], b[inner], atol=1e-5)
    assert net.architecture["features"] == 8 and net.architecture["depth"] == 4 and net.unrolls == 3
    assert float(net.lam.detach()) == pytest.approx(0.2)
    with pytest.raises(ParameterError, match="noise channel"):
        MoDLNet.from_denoiser(DnCNN(8, 4, noise_channel=False), 0.05)
    with pytest.raises(ParameterError, match="sigma"):
        MoDLNet.from_denoiser(den, 0.0)

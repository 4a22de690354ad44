"""WaveletOp: the matrix-product paths equal the polyphase loop and stay an isometry."""

from __future__ import annotations

import pytest
import torch


@pytest.mark.parametrize("shape", [(1, 64, 48), (1, 100, 60), (12, 16, 16)])
def test_wavelet_matrix_levels_equal_polyphase(
    shape: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """WaveletOp by matrix products = the polyphase loop (rel. diff < 1e-6), and stays an isometry."""
    from recon_engine.operators import wavelet

    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, *shape, dtype=torch.complex64, generator=g)
    fast = wavelet.WaveletOp(shape, wavelet="db4")
    c_fast = fast(x)
    monkeypatch.setattr(wavelet, "_MATRIX_MAX", 0)  # force the polyphase loop
    slow = wavelet.WaveletOp(shape, wavelet="db4")
    c_slow = slow(x)
    assert float((c_fast - c_slow).norm() / c_slow.norm()) < 1e-6
    back_fast, back_slow = fast.adjoint(c_fast), slow.adjoint(c_fast)
    assert float((back_fast - back_slow).norm() / back_slow.norm()) < 1e-6
    assert float((back_fast - x).norm() / x.norm()) < 1e-6  # WᴴW = I

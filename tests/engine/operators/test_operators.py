from __future__ import annotations

import numpy as np
import pytest
import torch

from recon_engine.operators import FFTOp, IdentityOp, centered_fft, centered_ifft
from tests.helpers import check_linear_operator, random_complex


@pytest.mark.parametrize(("ndim", "shape"), [(2, (3, 1, 16, 12)), (3, (2, 8, 10, 6))])
def test_fft_operator_properties(ndim: int, shape: tuple[int, ...]) -> None:
    check_linear_operator(FFTOp(ndim), shape, shape)


def test_algebra_properties() -> None:
    f = FFTOp(2)
    check_linear_operator(f @ f.H, (4, 8), (4, 8))
    check_linear_operator(f + 2.0 * IdentityOp(), (4, 8), (4, 8))
    check_linear_operator((0.5 - 1j) * f, (4, 8), (4, 8))
    x = random_complex((4, 8), torch.Generator().manual_seed(1))
    assert torch.allclose(f.H.H(x), f(x))


def test_centred_fft_puts_dc_at_n_half_and_matches_numpy() -> None:
    x = np.zeros((8, 6), dtype=np.complex64)
    x[4, 3] = 1.0  # a delta at the image centre has a flat spectrum
    k = centered_fft(torch.from_numpy(x), 2).numpy()
    np.testing.assert_allclose(np.abs(k), np.full((8, 6), 1 / np.sqrt(48)), rtol=1e-6)
    ones = torch.ones(8, 6, dtype=torch.complex64)
    kk = centered_fft(ones, 2)
    assert abs(float(kk[4, 3].abs()) - np.sqrt(48)) < 1e-4
    ref = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(x), norm="ortho"))
    # complex64 FFT of a unit delta: each output is off by ≲ eps·log2(n)/√n; a factor 8 of margin
    fft_bound = 8 * np.finfo(np.float32).eps * np.log2(48) / np.sqrt(48)
    np.testing.assert_allclose(centered_ifft(torch.from_numpy(x), 2).numpy(), ref, atol=fft_bound)


def test_bad_fft_dimensionality() -> None:
    with pytest.raises(ValueError, match="1, 2 or 3"):
        FFTOp(4)

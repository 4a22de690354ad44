"""Linear operators with a small algebra (``@``, ``+``, scalar ``*``, ``.H``, ``.gram``)."""

from recon_engine.operators.base import IdentityOp, LinearOperator
from recon_engine.operators.fft import FFTOp, centered_fft, centered_ifft
from recon_engine.operators.nufft import NUFFTOp
from recon_engine.operators.toeplitz import ToeplitzNormalOp

__all__ = [
    "FFTOp",
    "IdentityOp",
    "LinearOperator",
    "NUFFTOp",
    "ToeplitzNormalOp",
    "centered_fft",
    "centered_ifft",
]

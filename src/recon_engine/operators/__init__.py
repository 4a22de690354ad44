"""Linear operators with a small algebra (``@``, ``+``, scalar ``*``, ``.H``, ``.gram``)."""

from recon_engine.operators.base import IdentityOp, LinearOperator
from recon_engine.operators.fft import FFTOp, centered_fft, centered_ifft

__all__ = ["FFTOp", "IdentityOp", "LinearOperator", "centered_fft", "centered_ifft"]

"""A small linear-operator algebra.

Subclasses implement :meth:`LinearOperator.forward` and :meth:`LinearOperator.adjoint`;
the base class gives composition ``A @ B``, sums ``A + B``, scalar products ``a * A``,
the adjoint ``A.H`` and the normal operator ``A.gram`` (``AᴴA``). Operators take and
return one tensor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

__all__ = ["IdentityOp", "LinearOperator"]


class LinearOperator(ABC):
    """Base class of linear operators on complex tensors."""

    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the operator ``A x``."""

    @abstractmethod
    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Apply the adjoint ``Aᴴ y``."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the operator (same as :meth:`forward`)."""
        return self.forward(x)

    @property
    def H(self) -> LinearOperator:
        """The adjoint operator ``Aᴴ``."""
        return _Adjoint(self)

    @property
    def gram(self) -> LinearOperator:
        """The normal operator ``AᴴA``."""
        return self.H @ self

    def __matmul__(self, other: LinearOperator) -> LinearOperator:
        return _Composition(self, other)

    def __add__(self, other: LinearOperator) -> LinearOperator:
        return _Sum(self, other)

    def __rmul__(self, scalar: complex) -> LinearOperator:
        return _Scaled(self, scalar)

    def __mul__(self, scalar: complex) -> LinearOperator:
        return _Scaled(self, scalar)


class IdentityOp(LinearOperator):
    """The identity."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x``."""
        return x

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Return ``y``."""
        return y


class _Adjoint(LinearOperator):
    def __init__(self, op: LinearOperator) -> None:
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op.adjoint(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self.op.forward(y)

    @property
    def H(self) -> LinearOperator:
        return self.op


class _Composition(LinearOperator):
    def __init__(self, a: LinearOperator, b: LinearOperator) -> None:
        self.a, self.b = a, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a.forward(self.b.forward(x))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self.b.adjoint(self.a.adjoint(y))


class _Sum(LinearOperator):
    def __init__(self, a: LinearOperator, b: LinearOperator) -> None:
        self.a, self.b = a, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a.forward(x) + self.b.forward(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self.a.adjoint(y) + self.b.adjoint(y)


class _Scaled(LinearOperator):
    def __init__(self, op: LinearOperator, scalar: complex) -> None:
        self.op, self.scalar = op, scalar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scalar * self.op.forward(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        s = self.scalar.conjugate() if isinstance(self.scalar, complex) else self.scalar
        return s * self.op.adjoint(y)

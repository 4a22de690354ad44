"""A magicgui text field for real numbers, in plain or scientific notation.

Regularization weights and tolerances span decades (``1e-6`` … ``10``); a spin box with a
fixed number of decimals rounds them to 0, so options annotated ``float`` get this field.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import LineEdit

from napari_mrrecon._qt.numbers import float_validator, format_float, parse_float

__all__ = ["FloatEdit", "format_float"]


class FloatEdit(LineEdit):
    """Text field whose ``value`` is a float (``"3e-3"`` → 0.003).

    Reading ``value`` while the text is not a number raises ``ValueError``.
    """

    def __init__(self, value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(value=format_float(value), **kwargs)
        self.native.setValidator(float_validator(self.native))

    def get_value(self) -> float:  # type: ignore[override]
        """The number in the field."""
        return parse_float(str(super().get_value()))

    def set_value(self, value: Any) -> None:
        """Show ``value`` (a number or a numeric string)."""
        super().set_value(format_float(float(value)))

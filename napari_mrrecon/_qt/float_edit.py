"""A magicgui text field for real numbers, in plain or scientific notation.

Regularization weights and tolerances span decades (``1e-6`` … ``10``); a spin box with a
fixed number of decimals rounds them to 0, so options annotated ``float`` get this field.
"""

from __future__ import annotations

from typing import Any

from magicgui.widgets import LineEdit

__all__ = ["FloatEdit", "format_float"]


def format_float(value: float) -> str:
    """Shortest text that reads back as the same float (``0.001``, ``1e-06``)."""
    return repr(float(value))


class FloatEdit(LineEdit):
    """Text field whose ``value`` is a float (``"3e-3"`` → 0.003).

    Reading ``value`` while the text is not a number raises ``ValueError``.
    """

    def __init__(self, value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(value=format_float(value), **kwargs)
        from qtpy.QtCore import QLocale
        from qtpy.QtGui import QDoubleValidator

        validator = QDoubleValidator(self.native)
        validator.setLocale(QLocale.c())  # "0.001" whatever the system locale
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.native.setValidator(validator)

    def get_value(self) -> float:  # type: ignore[override]
        """The number in the field."""
        return float(str(super().get_value()).strip())

    def set_value(self, value: Any) -> None:
        """Show ``value`` (a number or a numeric string)."""
        super().set_value(format_float(float(value)))

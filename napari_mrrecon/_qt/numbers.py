"""Numbers typed into the docks and shown in them: one parser, one formatter, one validator.

Regularization weights and tolerances span decades (``1e-6`` … ``10``), so number fields read
plain and scientific notation in the C locale ("0.001" whatever the system locale) and show
the shortest text that reads back as the same float. Lists of numbers (times, swept values)
are separated by commas, semicolons or spaces.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qtpy.QtGui import QDoubleValidator
    from qtpy.QtWidgets import QWidget

__all__ = [
    "float_validator",
    "format_float",
    "format_short",
    "parse_float",
    "parse_numbers",
    "split_numbers",
]


def format_float(value: float) -> str:
    """Shortest text that reads back as the same float (``0.001``, ``1e-06``)."""
    return repr(float(value))


def format_short(value: float, digits: int = 6) -> str:
    """``value`` with at most ``digits`` significant digits (``100``, ``12.5``, ``0.001``)."""
    return f"{float(value):.{digits}g}"


def parse_float(text: str) -> float:
    """A finite number from ``text`` (``"3e-3"`` → 0.003).

    Raises
    ------
    ValueError
        The text is not a finite number.
    """
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text.strip()!r} is not a finite number")
    return value


def split_numbers(text: str) -> list[str]:
    """The parts of a list separated by commas, semicolons or spaces (no empty parts)."""
    return [part for part in re.split(r"[,;\s]+", text.strip()) if part]


def parse_numbers(text: str) -> list[float]:
    """Finite numbers separated by commas, semicolons or spaces.

    Raises
    ------
    ValueError
        A part that is not a finite number.
    """
    return [parse_float(part) for part in split_numbers(text)]


def float_validator(parent: QWidget) -> QDoubleValidator:
    """A validator for number fields: plain or scientific notation, C locale."""
    from qtpy.QtCore import QLocale
    from qtpy.QtGui import QDoubleValidator

    validator = QDoubleValidator(parent)
    validator.setLocale(QLocale.c())  # "0.001" whatever the system locale
    validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
    return validator

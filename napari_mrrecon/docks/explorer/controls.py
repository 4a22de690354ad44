"""The controls of the K-space Explorer dock, one group per concept, each with its explanation.

:class:`ExplorerControls` holds one widget per field of
:class:`recon_engine.teaching.ExplorerSettings` (plus the noise and radial switches that make
``snr`` and ``radial_spokes`` optional) in titled groups: sampling, partial Fourier,
resolution, window, filter, noise, spikes, radial, reconstruction. Under each group a
word-wrapped label carries the short text for students from
:data:`recon_engine.teaching.EXPLANATIONS`. :meth:`ExplorerControls.values` reads the
settings as a plain dict (the worker builds the engine's dataclass from it);
:meth:`ExplorerControls.apply` sets them (e.g. from ``mrrecon gui --explorer-settings``),
refusing values a control cannot show rather than clamping them silently.
:attr:`ExplorerControls.changed` fires on every edit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider
from superqt.utils import signals_blocked

from napari_mrrecon._qt.numbers import float_validator, format_float, parse_float

__all__ = ["PATTERNS_SHOWN", "ExplorerControls", "explanation", "explanation_label"]

#: Sampling patterns offered (the engine's ``PATTERNS``).
PATTERNS_SHOWN: tuple[str, ...] = ("regular", "random", "variable_density", "poisson_disc")
_PF_METHODS = ("zero_fill", "pocs", "homodyne")
_WINDOWS = ("none", "hamming", "tukey")
_FILTERS = ("none", "lowpass", "highpass")
_RECONS = ("zero_filled", "sense", "grappa", "cs")
_CS_REGULARIZERS = ("wavelet", "tv")


def explanation(*keys: str) -> str:
    """The first text of :data:`recon_engine.teaching.EXPLANATIONS` found under ``keys`` ("" if none)."""
    from recon_engine.teaching import EXPLANATIONS

    return next((EXPLANATIONS[k] for k in keys if EXPLANATIONS.get(k)), "")


def explanation_label(text: str) -> QLabel:
    """A small word-wrapped label for an explanation (hidden when ``text`` is empty)."""
    label = QLabel(text)
    label.setWordWrap(True)
    font = label.font()
    font.setItalic(True)
    font.setPointSizeF(max(font.pointSizeF() - 1.0, 7.0))
    label.setFont(font)
    label.setVisible(bool(text))
    return label


@dataclass
class _Control:
    """How to read, write and range-check one settings field."""

    widget: QWidget
    get: Callable[[], Any]
    set: Callable[[Any], None]


def _slider(lo: float, hi: float, value: float, step: float, *, integer: bool = False) -> Any:
    horizontal = Qt.Orientation.Horizontal
    if integer:
        s: Any = QLabeledSlider(horizontal)
        s.setRange(int(lo), int(hi))
        s.setSingleStep(int(step))
        s.setValue(int(value))
        return s
    s = QLabeledDoubleSlider(horizontal)
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setValue(value)
    return s


def _ranged(slider: Any, name: str, cast: type) -> _Control:
    def put(value: Any) -> None:
        v = cast(value)
        if not slider.minimum() <= v <= slider.maximum():
            raise ValueError(f"{name} = {value} is outside [{slider.minimum()}, {slider.maximum()}]")
        slider.setValue(v)

    return _Control(slider, lambda: cast(slider.value()), put)


def _choice(items: tuple[str, ...], name: str) -> _Control:
    combo = QComboBox()
    combo.addItems(list(items))

    def put(value: Any) -> None:
        if value not in items:
            raise ValueError(f"{name} = {value!r}: choose one of {', '.join(items)}")
        combo.setCurrentText(value)

    return _Control(combo, combo.currentText, put)


def _check(text: str, value: bool) -> _Control:
    box = QCheckBox(text)
    box.setChecked(value)
    return _Control(box, box.isChecked, lambda v: box.setChecked(bool(v)))


class ExplorerControls(QWidget):
    """All settings of the explorer in explained groups.

    Attributes
    ----------
    changed
        Qt signal emitted after any control changed.
    controls
        The controls by settings name (``acceleration``, ``pattern``, …).
    spikes
        Spike positions ``(ky, kx)`` added by clicking on the k-space layer.
    clear_spikes_button, spike_count
        The "Clear spikes" button and the label with the number of spikes.
    groups, explanations
        The group boxes and their explanation labels by explanation key.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spikes: list[tuple[int, int]] = []
        self.groups: dict[str, QGroupBox] = {}
        self.explanations: dict[str, QLabel] = {}
        c = self.controls = {
            "pattern": _choice(PATTERNS_SHOWN, "pattern"),
            "acceleration": _ranged(_slider(1.0, 16.0, 1.0, 0.5), "acceleration", float),
            "calibration": _ranged(_slider(0, 128, 24, 2, integer=True), "calibration", int),
            "seed": _ranged(_slider(0, 999, 0, 1, integer=True), "seed", int),
            "partial_fourier": _ranged(_slider(0.5, 1.0, 1.0, 0.0625), "partial_fourier", float),
            "partial_fourier_method": _choice(_PF_METHODS, "partial_fourier_method"),
            "phase_resolution": _ranged(_slider(0.05, 1.0, 1.0, 0.05), "phase_resolution", float),
            "readout_resolution": _ranged(_slider(0.05, 1.0, 1.0, 0.05), "readout_resolution", float),
            "window": _choice(_WINDOWS, "window"),
            "window_alpha": _ranged(_slider(0.0, 1.0, 0.5, 0.05), "window_alpha", float),
            "filter": _choice(_FILTERS, "filter"),
            "filter_radius": _ranged(_slider(0.01, 1.0, 0.2, 0.01), "filter_radius", float),
            "add_noise": _check("add noise", False),
            "snr_value": _ranged(_slider(1.0, 200.0, 20.0, 1.0), "snr", float),
            "spike_amplitude": _ranged(_slider(1.0, 1000.0, 50.0, 1.0), "spike_amplitude", float),
            "radial": _check("radial instead of Cartesian", False),
            "spokes": _ranged(_slider(4, 512, 64, 1, integer=True), "radial_spokes", int),
            "golden_angle": _check("golden-angle ordering", True),
            "recon": _choice(_RECONS, "recon"),
            "cs_regularizer": _choice(_CS_REGULARIZERS, "cs_regularizer"),
            "iterations": _ranged(_slider(1, 200, 20, 1, integer=True), "iterations", int),
            "regularization": self._float_field(1e-3),
            "gfactor": _check("g-factor map (SENSE)", False),
        }
        self.clear_spikes_button = QPushButton("Clear spikes")
        self.clear_spikes_button.setToolTip("Remove every spike added by clicking on the k-space layer")
        self.clear_spikes_button.clicked.connect(self.clear_spikes)
        self.spike_count = QLabel("0 spikes: click on the k-space layer to add one")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        spec: list[tuple[str, tuple[str, ...], list[tuple[str, str]]]] = [
            ("Sampling", ("mask",), [
                ("Pattern", "pattern"), ("Acceleration R", "acceleration"),
                ("Calibration lines", "calibration"), ("Seed", "seed")]),
            ("Partial Fourier", ("partial_fourier",), [
                ("Fraction", "partial_fourier"), ("Method", "partial_fourier_method")]),
            ("Resolution", ("resolution",), [
                ("Phase", "phase_resolution"), ("Readout", "readout_resolution")]),
            ("Window", ("window",), [("Window", "window"), ("Tukey α", "window_alpha")]),
            ("Low/high-pass", ("filter",), [("Filter", "filter"), ("Radius", "filter_radius")]),
            ("Noise", ("noise",), [("", "add_noise"), ("SNR", "snr_value")]),
            ("Spikes", ("spikes",), [("Amplitude", "spike_amplitude")]),
            ("Radial", ("radial",), [("", "radial"), ("Spokes", "spokes"), ("", "golden_angle")]),
            ("Reconstruction", ("recon",), [
                ("Method", "recon"), ("CS penalty", "cs_regularizer"), ("Iterations", "iterations"),
                ("λ", "regularization"),
                ("", "gfactor")]),
        ]  # fmt: skip
        for title, keys, rows in spec:
            box = QGroupBox(title)
            form = QFormLayout(box)
            for label, name in rows:
                if label:
                    form.addRow(label, c[name].widget)
                else:
                    form.addRow(c[name].widget)
            if title == "Spikes":
                row = QHBoxLayout()
                row.addWidget(self.spike_count, 1)
                row.addWidget(self.clear_spikes_button)
                form.addRow(row)
            note = explanation_label(explanation(*keys))
            form.addRow(note)
            self.groups[keys[0]] = box
            self.explanations[keys[0]] = note
            layout.addWidget(box)
        for name in ("pattern", "acceleration", "calibration"):  # the sampling rows explain themselves
            c[name].widget.setToolTip(explanation(name))
        for control in c.values():
            _connect_changed(control.widget, self.changed.emit)
        recon_choice = c["recon"].widget
        assert isinstance(recon_choice, QComboBox)
        recon_choice.currentTextChanged.connect(self._explain_recon)
        self._explain_recon(c["recon"].get())

    def _explain_recon(self, method: str) -> None:
        """The reconstruction group explains the chosen method."""
        label = self.explanations["recon"]
        label.setText(explanation(method, "recon"))
        label.setVisible(bool(label.text()))

    @staticmethod
    def _float_field(value: float) -> _Control:
        edit = QLineEdit(format_float(value))
        edit.setValidator(float_validator(edit))
        edit.setToolTip("Regularization weight λ (e.g. 1e-3; CS and SENSE)")
        return _Control(edit, lambda: parse_float(edit.text()), lambda v: edit.setText(format_float(v)))

    # ---- settings -------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The settings as keyword arguments of :class:`recon_engine.teaching.ExplorerSettings`.

        Raises
        ------
        ValueError
            A text field does not hold a number (e.g. λ while typing "1e-").
        """
        g = {name: control.get() for name, control in self.controls.items()}
        return {
            "pattern": g["pattern"],
            "acceleration": g["acceleration"],
            "calibration": g["calibration"],
            "seed": g["seed"],
            "partial_fourier": g["partial_fourier"],
            "partial_fourier_method": g["partial_fourier_method"],
            "phase_resolution": g["phase_resolution"],
            "readout_resolution": g["readout_resolution"],
            "window": g["window"],
            "window_alpha": g["window_alpha"],
            "snr": g["snr_value"] if g["add_noise"] else None,
            "spikes": tuple(self.spikes),
            "spike_amplitude": g["spike_amplitude"],
            "filter": g["filter"],
            "filter_radius": g["filter_radius"],
            "radial_spokes": g["spokes"] if g["radial"] else None,
            "golden_angle": g["golden_angle"],
            "recon": g["recon"],
            "cs_regularizer": g["cs_regularizer"],
            "iterations": g["iterations"],
            "regularization": g["regularization"],
            "gfactor": g["gfactor"],
        }

    def apply(self, settings: Mapping[str, Any]) -> None:
        """Set the controls from ``settings`` (names of :meth:`values`); one ``changed`` at the end.

        ``snr`` and ``radial_spokes`` switch noise and radial sampling on (or off with None).

        Raises
        ------
        ValueError
            An unknown name, or a value the control cannot take (the controls keep the
            values set before it).
        """
        aliases = {"snr": ("add_noise", "snr_value"), "radial_spokes": ("radial", "spokes")}
        known = set(self.values())
        with signals_blocked(self):
            for name, value in settings.items():
                if name not in known:
                    raise ValueError(f"unknown explorer setting {name!r}; known: {', '.join(sorted(known))}")
                if name == "spikes":
                    self.spikes = [(int(ky), int(kx)) for ky, kx in value]
                    self._count_spikes()
                elif name in aliases:
                    switch, field = aliases[name]
                    if value is not None:
                        self.controls[field].set(value)
                    self.controls[switch].set(value is not None)
                else:
                    self.controls[name].set(value)
        self.changed.emit()

    # ---- spikes ---------------------------------------------------------------------------
    def add_spike(self, ky: int, kx: int) -> None:
        """Add a spike at k-space index ``(ky, kx)``."""
        self.spikes.append((int(ky), int(kx)))
        self._count_spikes()
        self.changed.emit()

    def clear_spikes(self) -> None:
        """Remove all spikes."""
        if self.spikes:
            self.spikes.clear()
            self._count_spikes()
            self.changed.emit()

    def _count_spikes(self) -> None:
        n = len(self.spikes)
        self.spike_count.setText(f"{n} spike{'s' if n != 1 else ''}: click on the k-space layer to add one")


def _connect_changed(widget: QWidget, slot: Callable[[], None]) -> None:
    """Connect the widget's "value changed" signal to ``slot`` (ignoring the value)."""
    for signal_name in ("valueChanged", "currentTextChanged", "toggled", "editingFinished"):
        signal = getattr(widget, signal_name, None)
        if signal is not None:
            signal.connect(lambda *_: slot())
            return

"""Rows shared by the reconstruction docks: method, its options, preprocessing, device, memory.

The method list is the engine's registry (:data:`recon_engine.reconstructions.METHODS`),
read again whenever the list is opened, so methods registered later appear. Choosing a
method swaps in the form generated from its signature (:func:`~napari_mrrecon._qt.forms.options_form`).
The "Preprocessing" form (partial Fourier, coil compression) is generated from
:func:`recon_engine.calibration.preprocess.preprocess_steps` and applies to every method.
A few options start from GUI defaults that differ from the engine's
(:data:`FORM_DEFAULTS`: SENSE computes its g-factor map).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from napari_mrrecon._qt.forms import form_values, options_form, set_form_values
from napari_mrrecon._qt.layer_choice import replace_items

if TYPE_CHECKING:
    from collections.abc import Callable

    from magicgui.widgets import Container

    from recon_engine.data import KSpace

__all__ = ["DEVICES", "FORM_DEFAULTS", "SUPPLIED", "MethodChoice", "MethodPanel", "is_iterative"]

#: Device choices (``"auto"`` takes CUDA when there is a GPU).
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

#: Parameters of a method that the docks fill in themselves.
SUPPLIED: tuple[str, ...] = ("kspace", "device")

#: Parameters of the preprocessing that the docks fill in themselves (prewhitening follows
#: the method's own option).
PREPROCESS_SUPPLIED: tuple[str, ...] = ("kspace", "device", "prewhitening")

#: Option values a method's form starts from when they differ from the engine's defaults.
FORM_DEFAULTS: dict[str, dict[str, Any]] = {"sense": {"gfactor": "auto"}}


class MethodChoice(QComboBox):
    """Combo box of the registry's method names, refreshed each time it opens.

    Parameters
    ----------
    methods
        The registry (name → generator function); read, never copied.
    parent
        Parent widget.
    """

    def __init__(self, methods: Mapping[str, Callable[..., Any]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._methods = methods
        self.setToolTip("Reconstruction method (the engine's registry)")
        self.refresh()

    def refresh(self) -> None:
        """Re-read the registry; keeps the choice when it is still registered."""
        names = list(self._methods)
        if names == [self.itemText(i) for i in range(self.count())]:
            return
        if not replace_items(self, names):
            self.setCurrentIndex(names.index("direct") if "direct" in names else 0)
            self.currentTextChanged.emit(self.currentText())

    def select(self, name: str) -> bool:
        """Choose ``name`` (refreshing first); False when it is not registered."""
        self.refresh()
        if self.findText(name) < 0:
            return False
        self.setCurrentText(name)
        return True

    def showPopup(self) -> None:
        """Refresh, then open the list."""
        self.refresh()
        super().showPopup()


class MethodPanel(QObject):
    """Method, options form, device and memory estimate as rows of a dock's form.

    Parameters
    ----------
    form
        The dock's form layout; four rows are appended.
    parent
        The dock.
    default
        Method chosen at first (when registered).

    Attributes
    ----------
    changed
        Qt signal: a parameter (method, option, device) changed.
    method_changed
        Qt signal with the new method name, after its form was swapped in.
    method, device, memory
        The method combo box, the device combo box and the memory-estimate label.
    options
        The current method's magicgui form.
    preprocessing
        The preprocessing form (partial Fourier, coil compression), the same for every method.
    memory_bytes
        The last estimate (None without data).
    """

    changed = Signal()
    method_changed = Signal(str)

    def __init__(self, form: QFormLayout, parent: QWidget, *, default: str = "direct") -> None:
        super().__init__(parent)
        from recon_engine.calibration.preprocess import preprocess_steps
        from recon_engine.reconstructions import METHODS

        self.methods = METHODS
        self._form = form
        self.method = MethodChoice(METHODS, parent)
        self.method.select(default)
        self.options: Container = _method_form(METHODS, self.method.currentText())
        self.preprocessing: Container = options_form(preprocess_steps, skip=PREPROCESS_SUPPLIED)
        self.preprocessing.native.setToolTip(
            "Before any method: fill partial Fourier k-space, compress the receive coils"
        )
        self.device = QComboBox(parent)
        self.device.addItems(list(DEVICES))
        self.device.setToolTip("Compute device; auto uses a CUDA GPU when there is one")
        self.memory = QLabel("–", parent)
        self.memory.setToolTip(
            "Rough peak memory of one run on the chosen device: k-space, coil images, coil maps "
            "and the solver's vectors (recon_engine.reconstructions.memory)"
        )
        self.memory_bytes: int | None = None
        form.addRow("Method", self.method)
        form.addRow(self.options.native)
        box = QGroupBox("Preprocessing", parent)
        QVBoxLayout(box).addWidget(self.preprocessing.native)
        form.addRow(box)
        form.addRow("Device", self.device)
        form.addRow("Memory", self.memory)
        self.method.currentTextChanged.connect(self._on_method_changed)
        self.device.currentTextChanged.connect(self._emit_changed)
        self.options.changed.connect(self._emit_changed)
        self.preprocessing.changed.connect(self._emit_changed)

    def _emit_changed(self, *_: Any) -> None:
        self.changed.emit()

    def _on_method_changed(self, method: str) -> None:
        if method not in self.methods:
            return
        new = _method_form(self.methods, method)
        self._form.replaceWidget(self.options.native, new.native)
        self.options.changed.disconnect(self._emit_changed)
        self.options.native.deleteLater()
        self.options = new
        new.changed.connect(self._emit_changed)
        self.method_changed.emit(method)
        self.changed.emit()

    def values(self) -> dict[str, Any]:
        """``method``, ``device``, the preprocessing options that do something, the method's options.

        Raises
        ------
        ValueError
            An option's text is not a valid value.
        """
        from recon_engine.calibration.preprocess import split_preprocessing

        preprocess, _ = split_preprocessing(form_values(self.preprocessing))
        return {
            "method": self.method.currentText(),
            "device": self.device.currentText(),
            **preprocess,
            **form_values(self.options),
        }

    def set_values(
        self,
        method: str,
        device: str,
        options: Mapping[str, Any],
        preprocess: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Choose ``method`` and ``device`` and fill the forms; returns options they have no field for.

        ``preprocess`` (e.g. a recipe's) sets the preprocessing form; options it does not
        name go back to their defaults (nothing done).

        Raises
        ------
        ValueError
            ``method`` is not registered.
        """
        from recon_engine.calibration.preprocess import PREPROCESS_DEFAULTS

        if not self.method.select(method):
            raise ValueError(f"method {method!r} is not registered; known: {sorted(self.methods)}")
        if self.device.findText(device) >= 0:
            self.device.setCurrentText(device)
        missing = set_form_values(self.preprocessing, {**PREPROCESS_DEFAULTS, **dict(preprocess or {})})
        return missing + set_form_values(self.options, dict(options))

    def update_memory(self, kspace: KSpace | None) -> int | None:
        """Show the memory estimate of a run on ``kspace`` with the current settings."""
        from recon_engine.reconstructions import uses_nufft
        from recon_engine.reconstructions.memory import estimate_memory_bytes, format_bytes

        if kspace is None:
            self.memory_bytes = None
            self.memory.setText("–")
            return None
        try:
            options = form_values(self.options)
        except ValueError:
            options = {}
        nufft = uses_nufft(kspace)
        nx, ny, nz = kspace.header.recon_matrix
        image_shape = ((nz, ny, nx) if nz > 1 else (ny, nx)) if nufft else None
        device = self.device.currentText()
        shape = list(kspace.data.shape)
        try:  # coil compression: the method runs on the virtual coils
            virtual = int(form_values(self.preprocessing).get("coil_compression", 0))
        except ValueError:
            virtual = 0
        if 0 < virtual < shape[-4]:
            shape[-4] = virtual
        self.memory_bytes = estimate_memory_bytes(
            tuple(shape),
            self.method.currentText(),
            options,
            device=device,
            image_shape=image_shape,
            non_cartesian=nufft,
        )
        self.memory.setText(f"≈ {format_bytes(self.memory_bytes)} ({device})")
        return self.memory_bytes


def _method_form(methods: Mapping[str, Callable[..., Any]], method: str) -> Container:
    """The options form of ``method``, starting from :data:`FORM_DEFAULTS` where they apply."""
    form = options_form(methods[method], skip=SUPPLIED)
    names = {w.name for w in form}
    set_form_values(form, {k: v for k, v in FORM_DEFAULTS.get(method, {}).items() if k in names})
    return form


def is_iterative(method: Callable[..., Any]) -> bool:
    """True for a reconstruction that iterates (its signature has ``iterations``: SENSE, TV, wavelet …).

    Iterative methods report a residual/objective per iteration; direct and GRAPPA do not.
    """
    import inspect

    try:
        return "iterations" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False

"""The qMRI dock's raw-data part: the mapping method and its options form.

With a multi-contrast raw dataset as input, the dock maps it by one of the engine's raw-data
methods (:data:`recon_engine.qmri.model_based.MAPPING_METHODS`). The list is the registry,
with "subspace" shown twice — plain (CG) and with locally-low-rank regularization — as
:data:`PRESETS` says; a method added to the registry later appears under its own name. The
list depends on the data: non-Cartesian raw data (a trajectory: MR fingerprinting, one readout
per frame) get only :data:`NONCARTESIAN_METHODS` (gridding, subspace, PnP), Cartesian data all
the others (not gridding, which needs a trajectory).
Choosing a method swaps in the form generated from its signature
(:func:`~napari_mrrecon._qt.forms.options_form`), without the arguments the dock supplies
itself (:data:`SUPPLIED`: the data, the model and its times, TR and options, the mask
threshold, the device, the voxel fit's iterations).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QComboBox, QFormLayout, QGroupBox, QVBoxLayout, QWidget

from napari_mrrecon._qt.forms import form_values, options_form

if TYPE_CHECKING:
    from collections.abc import Callable

    from magicgui.widgets import Container

__all__ = [
    "DEFAULT_METHOD",
    "NONCARTESIAN_DEFAULT",
    "NONCARTESIAN_METHODS",
    "PRESETS",
    "SUPPLIED",
    "RawMethodPanel",
    "method_entries",
]

#: Entry → (engine method, options it fixes, options its form leaves out).
PRESETS: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "two-step": ("two-step", {}, ()),
    "model-based": ("model-based", {}, ()),
    "subspace": ("subspace", {"regularization": "none"}, ("regularization_weight", "block_size")),
    "subspace-LLR": ("subspace", {"regularization": "llr"}, ()),
    "PnP": ("pnp", {}, ()),
}
#: The method chosen when the dock opens.
DEFAULT_METHOD = "model-based"
#: Engine methods that map non-Cartesian (MR fingerprinting) raw data; the others need Cartesian data.
NONCARTESIAN_METHODS: tuple[str, ...] = ("gridding", "subspace", "pnp")
#: Engine methods that take only non-Cartesian data (left out for Cartesian input).
_TRAJECTORY_ONLY: tuple[str, ...] = ("gridding",)
#: The entry chosen for non-Cartesian data.
NONCARTESIAN_DEFAULT = "subspace"
#: Parameters of a mapping method that the dock fills in (or that cannot be typed).
SUPPLIED: tuple[str, ...] = (
    "kspace",
    "model",
    "times",
    "flip_angles",
    "tr",
    "maps",
    "mask_threshold",
    "max_iterations",
    "device",
    "denoiser",
    "regularization",
)


def method_entries(
    methods: dict[str, Callable[..., Any]], *, noncartesian: bool = False
) -> dict[str, tuple[str, dict[str, Any], tuple[str, ...]]]:
    """The dock's method list: :data:`PRESETS` whose engine method exists, then the registry's others.

    ``noncartesian``: only the :data:`NONCARTESIAN_METHODS`; otherwise all but the trajectory-only ones.
    """
    out = {k: v for k, v in PRESETS.items() if v[0] in methods}
    covered = {v[0] for v in out.values()}
    out.update({name: (name, {}, ()) for name in methods if name not in covered})
    if noncartesian:
        return {k: v for k, v in out.items() if v[0] in NONCARTESIAN_METHODS}
    return {k: v for k, v in out.items() if v[0] not in _TRAJECTORY_ONLY}


_CARTESIAN_TIP = (
    "two-step: SENSE per contrast, then the voxel fit; model-based: the signal model fitted "
    "to k-space (IRGNM); subspace (-LLR): low-rank images from the model's dictionary, then "
    "the fit; PnP: ADMM with a denoiser"
)
_NONCARTESIAN_TIP = (
    "Non-Cartesian MR fingerprinting: gridding: density-compensated adjoint, then dictionary matching; "
    "subspace (-LLR): coefficient images of the dictionary's SVD basis by CG (or FISTA with LLR), then "
    "matching; PnP: ADMM over the coefficient images with a denoiser, then matching"
)


class RawMethodPanel(QObject):
    """Method combo box and the chosen method's options, in a "Raw-data method" box.

    Parameters
    ----------
    layout
        The dock's main layout (the box is inserted at ``index``).
    parent
        The dock.
    index
        Position of the box in ``layout``.

    Attributes
    ----------
    method
        The combo box of :func:`method_entries` (for the kind of data of :meth:`set_noncartesian`).
    noncartesian
        True while the list is the one for non-Cartesian (MRF) data.
    form
        The magicgui container of the chosen method's options.
    box
        The group box (shown only when the input is raw data).
    changed
        Emitted after the method (and so the form) changed.
    """

    changed = Signal()

    def __init__(self, layout: QVBoxLayout, parent: QWidget, index: int = 1) -> None:
        super().__init__(parent)
        from recon_engine.qmri.model_based import MAPPING_METHODS

        self._methods = MAPPING_METHODS
        self.noncartesian = False
        self.entries = method_entries(MAPPING_METHODS)
        self.box = QGroupBox("Raw-data method")
        self._layout = QFormLayout(self.box)
        self.method = QComboBox()
        self.method.addItems(list(self.entries))
        self.method.setToolTip(_CARTESIAN_TIP)
        if DEFAULT_METHOD in self.entries:
            self.method.setCurrentText(DEFAULT_METHOD)
        self._layout.addRow("Method", self.method)
        self.form: Container = self._make_form()
        self._layout.addRow(self.form.native)
        layout.insertWidget(index, self.box)
        self.method.currentTextChanged.connect(self._on_method)

    def set_noncartesian(self, noncartesian: bool) -> None:
        """Offer the methods for non-Cartesian (MRF) data, or those for Cartesian data.

        The chosen entry stays when the new list has it; otherwise :data:`NONCARTESIAN_DEFAULT`
        or :data:`DEFAULT_METHOD` is chosen (and the form follows).
        """
        if noncartesian == self.noncartesian:
            return
        self.noncartesian = noncartesian
        current = self.method.currentText()
        self.entries = method_entries(self._methods, noncartesian=noncartesian)
        default = NONCARTESIAN_DEFAULT if noncartesian else DEFAULT_METHOD
        keep = current if current in self.entries else default
        self.method.blockSignals(True)
        try:
            self.method.clear()
            self.method.addItems(list(self.entries))
            if keep in self.entries:
                self.method.setCurrentText(keep)
        finally:
            self.method.blockSignals(False)
        self.method.setToolTip(_NONCARTESIAN_TIP if noncartesian else _CARTESIAN_TIP)
        self._on_method()

    def _make_form(self) -> Container:
        engine, _, hidden = self.entries[self.method.currentText()]
        return options_form(self._methods[engine], skip=(*SUPPLIED, *hidden))

    def _on_method(self, *_: Any) -> None:
        old = self.form
        self.form = self._make_form()
        self._layout.replaceWidget(old.native, self.form.native)
        old.native.setParent(None)
        old.native.deleteLater()
        self.changed.emit()

    @property
    def engine_method(self) -> str:
        """The engine's name of the chosen method (a key of ``MAPPING_METHODS``)."""
        return self.entries[self.method.currentText()][0]

    def accepts(self, name: str) -> bool:
        """True when the chosen engine method has the keyword ``name`` (e.g. ``max_iterations``)."""
        import inspect

        return name in inspect.signature(self._methods[self.engine_method]).parameters

    def values(self) -> dict[str, Any]:
        """``method`` (the engine's name) and the method's options, fixed ones included.

        Raises
        ------
        ValueError
            A text field that is not a valid value.
        """
        _, fixed, _ = self.entries[self.method.currentText()]
        return {"method": self.engine_method, **fixed, **form_values(self.form)}

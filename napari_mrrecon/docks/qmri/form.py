"""The model part of the qMRI dock: model choice, the times table, TR and the model's options.

The times table has one row per image of the series, one column headed with the model's
label and unit (``TI [ms]``, ``TE [ms]``, ``flip angle [deg]``); it is pre-filled from the
series' metadata and editable. "Fill" takes a comma/space separated list and sets the table
to it (its length becomes the number of rows, so a wrong count reaches the engine, which
says what is wrong). Raw data with a long schedule from the header (MR fingerprinting: hundreds
of flip angles) get a one-line summary instead of the table (:attr:`ModelForm.summary`); the
engine then reads the values from the header, and "Fill" still replaces them. The model's
keyword options (:attr:`recon_engine.qmri.ModelInfo.options`) get a check box when their
default is a flag and a text field otherwise (empty = default, Python literals such as ``True``
or ``0.5``).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_mrrecon._qt.layer_choice import LayerChoice
from napari_mrrecon._qt.numbers import format_short, parse_float, parse_numbers

if TYPE_CHECKING:
    import napari.viewer

    from recon_engine.qmri import ModelInfo

__all__ = [
    "DEFAULT_MODEL",
    "MAP_OPTIONS",
    "MAX_TABLE_ROWS",
    "NO_MAP",
    "TRISTATE",
    "TRISTATE_OPTIONS",
    "ModelForm",
    "format_number",
    "parse_numbers",
]

#: Model chosen when the dock opens.
DEFAULT_MODEL = "ir"
#: Longest raw-header schedule shown as a table; a longer one is summarised in one line.
MAX_TABLE_ROWS = 32
#: Model options that take a per-voxel map (chosen among the viewer's image layers).
MAP_OPTIONS: tuple[str, ...] = ("b1",)
#: Flags whose default None means "decide from the data" (a three-way choice).
TRISTATE_OPTIONS: tuple[str, ...] = ("signed",)
#: Entries of a three-way choice and the values they pass.
TRISTATE: dict[str, bool | None] = {"auto": None, "yes": True, "no": False}
#: Map-option entry meaning "none" (the model's default).
NO_MAP = "none"
_TR_KEYS = ("tr",)


def format_number(value: float) -> str:
    """Shortest text of a time or angle (``100``, ``12.5``)."""
    return format_short(value, 6)


class ModelForm(QWidget):
    """Model combo box, title, times table, fill field, TR and options.

    Attributes
    ----------
    model
        The model names of :data:`recon_engine.qmri.MODEL_NAMES`.
    times_table
        One row per image: the time (ms) or flip angle (deg).
    fill
        Text field that sets the whole table from a list.
    tr_edit
        Repetition time in ms (empty = from the series).
    summary
        One line shown instead of the table for a long raw-header schedule (e.g. "300 flip angles
        from the raw header (5–70 deg)"); hidden otherwise.
    info
        :class:`~recon_engine.qmri.ModelInfo` of the chosen model.
    changed
        Emitted when the model changes.
    """

    changed = Signal()

    def __init__(
        self, form: QFormLayout, parent: QWidget | None = None, *, viewer: napari.viewer.Viewer | None = None
    ) -> None:
        super().__init__(parent)
        from recon_engine.qmri import MODEL_NAMES, model_info

        self._viewer = viewer
        self._model_info = model_info
        self._form = form
        self._option_rows: list[QWidget] = []
        self.options: dict[str, QWidget] = {}
        self._series_times: np.ndarray | None = None
        self._series_angles: np.ndarray | None = None
        self._n = 0
        self._summarize = False
        self._note = ""
        self.model = QComboBox()
        self.model.addItems(list(MODEL_NAMES))
        self.model.setToolTip("Signal model fitted voxel by voxel")
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.times_table = QTableWidget(0, 1)
        header, vertical = self.times_table.horizontalHeader(), self.times_table.verticalHeader()
        if header is not None and vertical is not None:
            header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            vertical.setDefaultSectionSize(20)
        self.times_table.setMinimumHeight(110)
        self.times_table.setToolTip("One value per image of the series, editable")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setToolTip(
            "The raw header's schedule is used as it is; type a list in Fill to replace it"
        )
        self.summary.setVisible(False)
        times = QWidget()
        times_layout = QVBoxLayout(times)
        times_layout.setContentsMargins(0, 0, 0, 0)
        times_layout.addWidget(self.summary)
        times_layout.addWidget(self.times_table)
        self.fill = QLineEdit()
        self.fill.setPlaceholderText("e.g. 50, 100, 200, 400, 800")
        self.fill.setToolTip("Type a list and press Enter to set the whole table (one row per value)")
        self.fill.returnPressed.connect(self._on_fill)
        self.tr_edit = QLineEdit()
        self.tr_edit.setPlaceholderText("from the series")
        self.tr_edit.setToolTip("Repetition time in ms (VFA, MRF); empty: the series' value")
        form.addRow("Model", self.model)
        form.addRow(self.title)
        form.addRow("Times", times)
        form.addRow("Fill", self.fill)
        form.addRow("TR [ms]", self.tr_edit)
        if DEFAULT_MODEL in MODEL_NAMES:
            self.model.setCurrentText(DEFAULT_MODEL)
        self.model.currentTextChanged.connect(self._on_model)
        self._on_model()

    # ---- model ---------------------------------------------------------------------------
    @property
    def info(self) -> ModelInfo:
        """Description of the chosen model."""
        return self._model_info(self.model.currentText())

    @property
    def uses_angles(self) -> bool:
        """True when the table holds flip angles (deg) rather than times (ms)."""
        return self.info.times_unit == "deg"

    def _on_model(self, *_: Any) -> None:
        info = self.info
        self.title.setText(info.title)
        self.times_table.setHorizontalHeaderLabels([f"{info.times_label} [{info.times_unit}]"])
        for old in self._option_rows:
            self._form.removeRow(old)
        self._option_rows = []
        self.options = {}
        for key, default in info.options.items():
            if key in _TR_KEYS:
                continue
            widget: QWidget
            if key in MAP_OPTIONS:
                widget = self._map_choice()
            elif key in TRISTATE_OPTIONS and default is None:
                widget = QComboBox()
                widget.addItems(list(TRISTATE))
            elif isinstance(default, bool):
                widget = QCheckBox()
                widget.setChecked(default)
            else:
                widget = QLineEdit()
                widget.setPlaceholderText("default" if default is None else repr(default))
            widget.setToolTip(f"Model option {key} (default {default!r})")
            self._form.insertRow(
                self._form.getWidgetPosition(self.tr_edit)[0] + 1 + len(self._option_rows), key, widget
            )
            self._option_rows.append(widget)
            self.options[key] = widget
        self._fill_table()
        self.changed.emit()

    def _map_choice(self) -> QComboBox:
        """A map option's choice: "none" and the viewer's image layers (only "none" without a viewer)."""
        if self._viewer is None:
            combo = QComboBox()
            combo.addItem(NO_MAP)
            return combo
        return LayerChoice(self._viewer, lambda layer: type(layer).__name__ == "Image", first=(NO_MAP,))

    # ---- times ---------------------------------------------------------------------------
    def set_series(
        self,
        times: np.ndarray | None,
        flip_angles: np.ndarray | None,
        n: int,
        tr: float | None,
        *,
        summarize: bool = False,
        note: str = "",
    ) -> None:
        """Pre-fill the table (``n`` rows) from a series' times/flip angles, and TR.

        With ``summarize`` (raw data whose header holds the values) a schedule longer than
        :data:`MAX_TABLE_ROWS` is shown as the one-line :attr:`summary` (``note`` appended)
        and :meth:`values` gives None, so the engine reads the header.
        """
        self._series_times = None if times is None else np.asarray(times, dtype=float)
        self._series_angles = None if flip_angles is None else np.asarray(flip_angles, dtype=float)
        self._n = n
        self._summarize = summarize and n > MAX_TABLE_ROWS
        self._note = note
        self.tr_edit.setText("" if tr is None else format_number(tr))
        self._fill_table(reset=True)

    def _fill_table(self, *, reset: bool = False) -> None:
        """The series' values for the model's variable; else keep what was typed (unless ``reset``)."""
        values = self._series_angles if self.uses_angles else self._series_times
        n = self._n
        summarized = self._summarize and values is not None and len(values) == n
        self.summary.setVisible(summarized)
        self.times_table.setVisible(not summarized)
        if summarized:
            assert values is not None
            self.summary.setText(self._summary_text(values))
            self.times_table.setRowCount(0)
        elif values is not None and len(values) == n:
            self.set_values(values)
        elif reset or self.times_table.rowCount() != n:
            self.times_table.setRowCount(n)
            for i in range(n):
                self.times_table.setItem(i, 0, QTableWidgetItem(""))

    def _summary_text(self, values: np.ndarray) -> str:
        info = self.info
        what = "flip angles" if info.times_label == "flip angle" else f"{info.times_label} values"
        lo, hi = format_number(float(np.min(values))), format_number(float(np.max(values)))
        text = f"{len(values)} {what} from the raw header ({lo}–{hi} {info.times_unit})"
        return f"{text}; {self._note}" if self._note else text

    @property
    def summarized(self) -> bool:
        """True while the :attr:`summary` stands for the header's schedule (no table)."""
        return not self.summary.isHidden()

    def set_values(self, values: Any) -> None:
        """Set the table to ``values`` (one row each)."""
        values = list(values)
        self.times_table.setRowCount(len(values))
        for i, v in enumerate(values):
            self.times_table.setItem(i, 0, QTableWidgetItem(format_number(v)))

    def _on_fill(self) -> None:
        from napari.utils.notifications import show_error

        try:
            values = parse_numbers(self.fill.text())
        except ValueError as exc:
            show_error(f"Times: {exc}")
            return
        self._summarize = False  # typed values replace the header's schedule: show them
        self.summary.setVisible(False)
        self.times_table.setVisible(True)
        self.set_values(values)

    def values(self) -> np.ndarray | None:
        """The table as float64 ``(n,)``; None when every cell is empty.

        Raises
        ------
        ValueError
            Some cells empty, or not numbers.
        """
        texts = []
        for i in range(self.times_table.rowCount()):
            item = self.times_table.item(i, 0)
            texts.append("" if item is None else item.text().strip())
        if not any(texts):
            return None
        label = self.info.times_label
        out = []
        for i, text in enumerate(texts):
            if not text:
                raise ValueError(f"{label} of image {i + 1} is empty: fill in every row of the table.")
            try:
                out.append(parse_float(text))
            except ValueError:
                raise ValueError(f"{label} of image {i + 1} ({text!r}) is not a number.") from None
        return np.asarray(out, dtype=np.float64)

    # ---- everything ------------------------------------------------------------------------
    def gather(self) -> dict[str, Any]:
        """``model``, ``times`` or ``flip_angles``, ``tr`` and the model options for ``fit_steps``.

        Raises
        ------
        ValueError
            A table cell, TR or option that is not a valid value.
        """
        out: dict[str, Any] = {"model": self.model.currentText()}
        values = self.values()
        if values is not None:
            out["flip_angles" if self.uses_angles else "times"] = values
        tr_text = self.tr_edit.text().strip()
        if tr_text:
            try:
                out["tr"] = float(tr_text)
            except ValueError:
                raise ValueError(f"TR {tr_text!r} is not a number (ms).") from None
        for key, widget in self.options.items():
            if isinstance(widget, QComboBox) and key in TRISTATE_OPTIONS:
                out[key] = TRISTATE[widget.currentText()]
            elif isinstance(widget, QComboBox):
                out.update(self._map_value(key, widget.currentText()))
            elif isinstance(widget, QCheckBox):
                out[key] = widget.isChecked()
            elif isinstance(widget, QLineEdit) and widget.text().strip():
                text = widget.text().strip()
                try:
                    out[key] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    out[key] = text  # a plain word, e.g. a mode name
        return out

    def _map_value(self, key: str, name: str) -> dict[str, Any]:
        if name == NO_MAP or self._viewer is None:
            return {}
        for layer in self._viewer.layers:
            if layer.name == name:
                return {key: np.asarray(layer.data, dtype=np.float32)}
        raise ValueError(f"{key} map layer {name!r} is gone.")

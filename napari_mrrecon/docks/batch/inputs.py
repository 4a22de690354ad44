"""The Batch dock's input list: files, folders and glob patterns, in the order given."""

from __future__ import annotations

import os
from collections.abc import Iterable

from qtpy.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

__all__ = ["InputList", "row"]

#: File dialog filter of "Add files…".
FILE_FILTER = "Raw data or series (*.h5 *.mrd *.dat *.npy *.nii *.nii.gz);;All files (*)"


def row(*widgets: QWidget) -> QWidget:
    """The widgets side by side in one borderless row widget."""
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        layout.addWidget(w)
    return box


class InputList(QWidget):
    """A list of batch inputs with Add files…, Add folder…, Remove, Clear and a pattern field.

    Parameters
    ----------
    parent
        The dock.

    Attributes
    ----------
    list
        The entries (one file, folder or glob pattern each).
    pattern
        A glob pattern typed in (Return or "Add" appends it).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setToolTip("Raw files, folders and glob patterns (image series for a fit recipe)")
        self.pattern = QLineEdit()
        self.pattern.setPlaceholderText("/data/study/*.h5")
        self.pattern.returnPressed.connect(self._add_pattern)
        add_pattern = QPushButton("Add")
        add_pattern.clicked.connect(self._add_pattern)
        buttons = []
        for text, slot in (
            ("Add files…", self._choose_files),
            ("Add folder…", self._choose_folder),
            ("Remove", self.remove_selected),
            ("Clear", self.list.clear),
        ):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.append(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addWidget(row(*buttons))
        layout.addWidget(row(self.pattern, add_pattern))

    def entries(self) -> list[str]:
        """The inputs, in order."""
        items = (self.list.item(i) for i in range(self.list.count()))
        return [item.text() for item in items if item is not None]

    def add(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Append files, folders or glob patterns (empty and duplicate entries ignored)."""
        have = set(self.entries())
        for p in paths:
            s = os.fspath(p).strip()
            if s and s not in have:
                have.add(s)
                self.list.addItem(s)

    def remove_selected(self) -> None:
        """Remove the selected entries."""
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))

    def _add_pattern(self) -> None:
        self.add([self.pattern.text()])
        self.pattern.clear()

    def _choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Input files", "", FILE_FILTER)
        self.add(paths)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of inputs")
        if path:
            self.add([path])

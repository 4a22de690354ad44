"""The "Metadata" dock: the header as a searchable tree, the acquisitions as a table.

Shows the chosen loaded dataset, or any raw file picked with "Inspect file…" (read
without the samples: :func:`recon_engine.io.ismrmrd_read.read_ismrmrd_info`,
:func:`recon_engine.io.twix.read_twix_info`). For Siemens twix files the tree also holds
the whole twix protocol (``MeasYaps``, ``Meas``, ``Dicom``, ``Config``, ...; from
:func:`recon_engine.io.twix.twix_header_tree`), searchable like the rest. Rows selected in
the acquisitions table are highlighted in the Trajectory dock.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import signals_blocked

from napari_mrrecon._qt.acquisition_table import COLUMNS, AcquisitionTableModel
from napari_mrrecon._qt.layer_choice import DatasetChoice

if TYPE_CHECKING:
    import napari.viewer

    from napari_mrrecon.model.entries import RawDataset
    from recon_engine.io.ismrmrd_read import RawInfo

__all__ = ["MetadataWidget"]

_ALL = "all acquisitions"
#: Top-level tree item holding the twix protocol.
TWIX_ITEM = "twix protocol"


def _is_twix(path: Path) -> bool:
    return path.suffix.lower() == ".dat"


def _add_items(parent: QTreeWidgetItem | QTreeWidget, key: str, value: Any) -> None:
    """Add ``key: value`` under ``parent``; dicts and lists of dicts become subtrees."""
    if isinstance(value, dict):
        item = QTreeWidgetItem([key, ""])
        for k, v in value.items():
            _add_items(item, str(k), v)
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        item = QTreeWidgetItem([key, ""])
        for i, v in enumerate(value):
            _add_items(item, f"{key} [{i}]", v)
    else:
        text = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        item = QTreeWidgetItem([key, text])
    if isinstance(parent, QTreeWidget):
        parent.addTopLevelItem(item)
    else:
        parent.addChild(item)


def _children(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    kids = (item.child(i) for i in range(item.childCount()))
    return [k for k in kids if k is not None]


def _top_items(tree: QTreeWidget) -> list[QTreeWidgetItem]:
    items = (tree.topLevelItem(i) for i in range(tree.topLevelItemCount()))
    return [t for t in items if t is not None]


def _show_subtree(item: QTreeWidgetItem) -> None:
    item.setHidden(False)
    for child in _children(item):
        _show_subtree(child)


def _filter_item(item: QTreeWidgetItem, text: str) -> bool:
    """Show items whose name or value contains ``text`` (with ancestors and subtree)."""
    if text in item.text(0).lower() or text in item.text(1).lower():
        _show_subtree(item)
        return True
    visible = False
    for child in _children(item):
        visible |= _filter_item(child, text)
    item.setHidden(not visible)
    if visible:
        item.setExpanded(True)
    return visible


class MetadataWidget(QWidget):
    """Dock "Metadata": header tree with search, acquisition table with decoded flags.

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when it creates the dock).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.info: RawInfo | None = None
        self._dataset: RawDataset | None = None

        self.dataset_choice = DatasetChoice(napari_viewer, self)
        self.dataset_choice.currentIndexChanged.connect(self._on_dataset)
        inspect_button = QPushButton("Inspect file…")
        inspect_button.setToolTip(
            "Show the metadata of a raw file (ISMRMRD, twix) without loading its samples"
        )
        inspect_button.clicked.connect(self._inspect_dialog)
        self.source = QLabel("")
        self.source.setWordWrap(True)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search header (name or value)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.filter_tree)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Name", "Value"])
        self.tree.setColumnWidth(0, 220)
        header_tab = QWidget()
        header_layout = QVBoxLayout(header_tab)
        header_layout.addWidget(self.search)
        header_layout.addWidget(self.tree)

        self.flag_filter = QComboBox()
        self.flag_filter.setToolTip("Show only the acquisitions that carry this flag")
        self.flag_filter.currentIndexChanged.connect(self._on_flag_filter)
        self.acquisitions = AcquisitionTableModel()
        self.table = QTableView()
        self.table.setModel(self.acquisitions)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setToolTip("Select rows to highlight their samples in the Trajectory dock")
        selection_model = self.table.selectionModel()
        if selection_model is not None:
            selection_model.selectionChanged.connect(self._on_table_selection)
        columns, rows = self.table.horizontalHeader(), self.table.verticalHeader()
        if columns is not None:
            columns.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            flags_column = COLUMNS.index("flags")  # long lists: fixed width, full text as tooltip
            columns.setSectionResizeMode(flags_column, QHeaderView.ResizeMode.Interactive)
            columns.resizeSection(flags_column, 260)
        if rows is not None:
            rows.setVisible(False)  # the "index" column numbers the acquisitions
            rows.setDefaultSectionSize(rows.minimumSectionSize())
        acq_tab = QWidget()
        acq_layout = QVBoxLayout(acq_tab)
        acq_layout.addWidget(self.flag_filter)
        acq_layout.addWidget(self.table)

        self.tabs = QTabWidget()
        self.tabs.addTab(header_tab, "Header")
        self.tabs.addTab(acq_tab, "Acquisitions")
        self.tabs.setMinimumHeight(300)

        choose = QHBoxLayout()
        choose.addWidget(self.dataset_choice, 1)
        choose.addWidget(inspect_button)
        form = QFormLayout()
        form.addRow("Dataset", choose)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.source)
        layout.addWidget(self.tabs, 1)
        self._on_dataset()

    # ---- sources ------------------------------------------------------------------------
    def _on_dataset(self, *_: Any) -> None:
        dataset = self.dataset_choice.dataset()
        if dataset is not None and dataset is self._dataset:
            return  # the layer list changed, not the choice: keep search and filter
        self._dataset = dataset
        if dataset is None:
            self.show_info(None)
            return
        from recon_engine.io.ismrmrd_read import RawInfo

        ks = dataset.kspace
        path = Path(ks.source) if ks.source else Path(dataset.name)
        self.show_info(RawInfo(path=path, group="", header=ks.header, acquisitions=ks.acquisitions))

    def show_file(self, path: str | Path) -> bool:
        """Show the metadata of an ISMRMRD or twix file (errors become a notification).

        Returns
        -------
        bool
            True if the file could be read.
        """
        from napari.utils.notifications import show_error

        from recon_engine.errors import ReconError
        from recon_engine.io.ismrmrd_read import read_ismrmrd_info

        try:
            if _is_twix(Path(path)):
                from recon_engine.io.twix import read_twix_info

                info = read_twix_info(path)
            else:
                info = read_ismrmrd_info(path)
        except ReconError as exc:
            show_error(f"Cannot show metadata: {exc}")
            return False
        self._dataset = None
        self.show_info(info)
        return True

    def _inspect_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Inspect raw data file",
            "",
            "Raw data (*.h5 *.mrd *.dat);;ISMRMRD (*.h5 *.mrd);;twix (*.dat)",
        )
        if path:
            self.show_file(path)

    # ---- display --------------------------------------------------------------------------
    def show_info(self, info: RawInfo | None) -> None:
        """Fill the tree (summary + header) and the acquisition table; None clears."""
        self.info = info
        self.tree.clear()
        with signals_blocked(self.flag_filter):
            self.flag_filter.clear()
        if info is None:
            self.source.setText("No dataset: open an ISMRMRD file or use “Inspect file…”.")
            self.acquisitions.set_table(None)
            return
        from recon_engine.api import info_dict
        from recon_engine.data.header import header_tree

        self.source.setText(str(info.path))
        summary = info_dict(info)
        if _is_twix(info.path):
            summary["format"] = "Siemens twix"
        _add_items(self.tree, "summary", summary)
        _add_items(self.tree, "ismrmrdHeader", header_tree(info.header.xml))
        for item in _top_items(self.tree):
            item.setExpanded(True)
        if _is_twix(info.path):
            self._add_twix_protocol(info.path)
        counts = info.acquisitions.flag_counts()
        with signals_blocked(self.flag_filter):
            self.flag_filter.addItem(f"{_ALL} ({len(info.acquisitions)})", "")
            for name, n in counts.items():
                if name != "NONE":
                    self.flag_filter.addItem(f"{name} ({n})", name)
        self.acquisitions.set_table(info.acquisitions)
        self.filter_tree(self.search.text())

    def _add_twix_protocol(self, path: Path) -> None:
        """Add the twix protocol (collapsed) below the header; errors become a notification."""
        from napari.utils.notifications import show_error

        from recon_engine.errors import ReconError
        from recon_engine.io.twix import twix_header_tree

        try:
            tree = twix_header_tree(path)
        except ReconError as exc:
            show_error(f"Cannot show the twix protocol: {exc}")
            return
        _add_items(self.tree, TWIX_ITEM, tree)
        item = _top_items(self.tree)[-1]
        item.setExpanded(True)  # shows the sections (MeasYaps, Meas, ...), each collapsed

    def filter_tree(self, text: str) -> None:
        """Show only header entries whose name or value contains ``text`` (case-insensitive)."""
        needle = text.strip().lower()
        for item in _top_items(self.tree):
            if needle:
                _filter_item(item, needle)
            else:
                _show_subtree(item)

    def selected_acquisitions(self) -> list[int]:
        """Acquisition numbers of the selected table rows."""
        selection_model = self.table.selectionModel()
        rows = sorted({i.row() for i in selection_model.selectedRows()}) if selection_model else []
        return [int(i) for i in self.acquisitions.acquisition_indices(rows)]

    def _on_table_selection(self, *_: Any) -> None:
        # a loaded dataset shares its selection with the Trajectory dock
        if self._dataset is not None:
            self._dataset.selection.set(self.selected_acquisitions())

    def _on_flag_filter(self, *_: Any) -> None:
        if self.info is not None:
            self.acquisitions.set_table(self.info.acquisitions, self.flag_filter.currentData() or None)
